import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testAppDeps, withTestDatabase, tempDataDir } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import {
  appConfig,
  inlineScriptHashes,
  rewriteCss,
  rewriteIndexHtml,
  rewriteScript,
} from '../../server/viewer/viewerRewrites.ts';

test('the viewer rewrites move a build made for "/" under /viewer/', () => {
  const html =
    '<link rel="manifest" href="/manifest.json"><script>window.PUBLIC_URL="/"</script>' +
    '<script defer src="/app.bundle.1234567890abcdef.js"></script><a href="//cdn.example/x">';
  const out = rewriteIndexHtml(html, '/viewer/');
  assert.equal(
    out,
    '<link rel="manifest" href="/viewer/manifest.json"><script>window.PUBLIC_URL="/viewer/"</script>' +
      '<script defer src="/viewer/app.bundle.1234567890abcdef.js"></script><a href="//cdn.example/x">',
  );
  const hash = createHash('sha256').update('window.PUBLIC_URL="/viewer/"').digest('base64');
  assert.deepEqual(inlineScriptHashes(out), [`'sha256-${hash}'`], 'only inline scripts are hashed');
  assert.equal(rewriteScript('a;__webpack_require__.p = "/";b', '/viewer/'), 'a;__webpack_require__.p = "/viewer/";b');
  assert.equal(
    rewriteCss('src:url(/a.woff2) format("woff2");b:url("/x.png");c:url(//h/y)', '/viewer/'),
    'src:url(/viewer/a.woff2) format("woff2");b:url("/viewer/x.png");c:url(//h/y)',
  );
  const config = appConfig('/viewer/');
  assert.match(config, /"routerBasename": "\/viewer"/);
  assert.match(config, /"qidoRoot": __root/);
  assert.match(config, /var __root = window\.location\.origin \+ '\/dicomweb';/);
});

test('a viewer build is served with its rewrites, content types and policy; a missing one is a 503 and a reason in /healthz', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const dist = join(await tempDataDir(t), 'dist');
    await mkdir(dist, { recursive: true });
    await writeFile(
      join(dist, 'index.html'),
      '<script>window.PUBLIC_URL="/"</script><script src="/app.bundle.0123456789abcdef.js"></script>',
    );
    await writeFile(join(dist, 'app.bundle.0123456789abcdef.js'), 'x;__webpack_require__.p = "/";');
    await writeFile(join(dist, 'app.bundle.css'), 'a{src:url(/f.woff2)}');
    await writeFile(join(dist, 'f.wasm'), Buffer.from([0, 97, 115, 109]));
    const deps = { ...(await testAppDeps(db, t)), viewerDist: dist };
    const { url } = await startTestServer(deps, t);

    const page = await fetch(`${url}/viewer/viewer?StudyInstanceUIDs=1.2.3`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    assert.match(html, /window\.PUBLIC_URL="\/viewer\/"/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.ok(csp.includes(inlineScriptHashes(html)[0]), 'the inline script is allowed by its hash');
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' 'sha256-/);
    assert.doesNotMatch(/script-src[^;]*/.exec(csp)?.[0] ?? '', /unsafe-inline/, 'scripts stay without unsafe-inline');
    const js = await fetch(`${url}/viewer/app.bundle.0123456789abcdef.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await js.text(), 'x;__webpack_require__.p = "/viewer/";');
    assert.equal(await (await fetch(`${url}/viewer/app.bundle.css`)).text(), 'a{src:url(/viewer/f.woff2)}');
    assert.equal((await fetch(`${url}/viewer/f.wasm`)).headers.get('content-type'), 'application/wasm');
    const root = await fetch(`${url}/viewer/`);
    assert.equal(root.status, 200, '/viewer/ is the app');
    assert.match(await root.text(), /PUBLIC_URL="\/viewer\/"/);
    const bare = await fetch(`${url}/viewer?x=1`, { redirect: 'manual' });
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get('location'), '/viewer/?x=1');
    const config = await fetch(`${url}/viewer/app-config.js`);
    assert.match(await config.text(), /routerBasename/);
    assert.doesNotMatch(await (await fetch(`${url}/viewer/..%2f..%2fpackage.json`)).text(), /"name"/);
    assert.equal(
      (await fetch(`${url}/`, { redirect: 'manual' })).headers
        .get('content-security-policy')
        ?.includes("'unsafe-eval'"),
      false,
      'our own pages keep the strict policy',
    );

    const missing = { ...(await testAppDeps(db, t)), viewerDist: join(dist, 'nowhere') };
    const other = await startTestServer(missing, t);
    const refused = await fetch(`${other.url}/viewer/`);
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { error: string }).error, /viewer is not available: .*not installed/);
    const health = (await (await fetch(`${other.url}/healthz`)).json()) as {
      status: string;
      viewer: { available: boolean; reason?: string };
    };
    assert.equal(health.viewer.available, false);
    assert.match(health.viewer.reason ?? '', /npm run install-viewer/);
    assert.equal(health.status, 'ok', 'a missing viewer degrades nothing else');
    assert.equal((await fetch(`${other.url}/dicomweb/studies`)).status, 200);
  });
});

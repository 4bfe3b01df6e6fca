import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';

function assertSecurityHeaders(res: Response, what: string): void {
  const csp = res.headers.get('content-security-policy') ?? '';
  const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(' ')[0], d.split(' ').slice(1)]));
  assert.deepEqual(
    directives.get('script-src'),
    ["'self'", "'wasm-unsafe-eval'"],
    `${what}: scripts only from this server`,
  );
  assert.doesNotMatch(csp, /script-src[^;]*'unsafe-inline'/, `${what}: no inline script`);
  assert.match(csp, /frame-ancestors 'none'/, what);
  assert.match(csp, /object-src 'none'/, what);
  assert.doesNotMatch(csp, /upgrade-insecure-requests/, `${what}: a plain-HTTP LAN server must keep working`);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', what);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', what);
  assert.equal(res.headers.get('strict-transport-security'), null, `${what}: HSTS only under TLS`);
}

test('security headers on pages, the API, errors, sign-in redirects and signed-link pages', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const open = await startTestServer(await testAppDeps(db, t), t);
    // The page is served when the web build exists and answers 503 otherwise: headers either way.
    assertSecurityHeaders(await fetch(`${open.url}/`), 'page');
    assertSecurityHeaders(await fetch(`${open.url}/healthz`), 'API');
    assertSecurityHeaders(await fetch(`${open.url}/api/jobs/00000000-0000-0000-0000-000000000000`), 'API error');
    assertSecurityHeaders(await fetch(`${open.url}/d/not-a-token`), 'signed-link page');

    const locked = await startTestServer(await testAppDeps(db, t, { AUTH: 'on' }), t);
    assertSecurityHeaders(await fetch(`${locked.url}/api/results`), '401');
    assertSecurityHeaders(
      await fetch(`${locked.url}/files`, { headers: { Accept: 'text/html' }, redirect: 'manual' }),
      'redirect',
    );
  });
});

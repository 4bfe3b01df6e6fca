import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { insertResult, listen } from '../web/fixtures.ts';
import { readZip } from '../../server/downloads/zipStream.test.ts';

test('results API lists results and serves only listed files as attachments', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const glb = randomBytes(5000);
    const r = await insertResult(db, deps.dataDir, {
      name: 'CT Abdomen',
      files: { 'ct.glb': glb, 'ct_segments.json': Buffer.from('[]') },
      segments: [{ label: 1, name: 'liver' }],
    });
    await insertResult(db, deps.dataDir, {
      name: 'Old',
      files: { 'old.glb': glb },
      expiresAt: new Date(Date.now() - 1000),
    });
    const { base } = await listen(t, deps);

    const list = (await (await fetch(`${base}/api/results`)).json()) as Array<{
      id: string;
      files: Array<{ name: string; size: number; url: string }>;
      segments: unknown[];
      previewUrl: string;
    }>;
    assert.equal(list.length, 1, 'expired results are not listed');
    assert.equal(list[0].id, r.id);
    assert.deepEqual(
      list[0].files.map((f) => [f.name, f.size]),
      [
        ['ct.glb', 5000],
        ['ct_segments.json', 2],
      ],
    );
    assert.equal(list[0].previewUrl, `/api/results/${r.id}/files/ct.glb`);

    const file = await fetch(`${base}${list[0].files[0].url}`);
    assert.equal(file.status, 200);
    assert.match(file.headers.get('content-disposition') ?? '', /^attachment; filename="ct.glb"/);
    assert.equal(file.headers.get('content-type'), 'model/gltf-binary');
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(glb));

    for (const bad of ['..%2F..%2Fsecrets%2Fdownload-link.key', 'nope.glb', '%2Fetc%2Fpasswd']) {
      const res = await fetch(`${base}/api/results/${r.id}/files/${bad}`);
      assert.equal(res.status, 404, bad);
      assert.match(((await res.json()) as { error: string }).error, /no file of that name/);
    }
    assert.equal((await fetch(`${base}/api/results/not-a-uuid/files/ct.glb`)).status, 404);
  });
});

test('a QR link gives exactly the chosen files, as a page, singly and as a byte-identical zip', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { PUBLIC_URL: 'https://models.example.org/' });
    const a = await insertResult(db, deps.dataDir, {
      name: 'A',
      files: {
        'a.glb': randomBytes(200_000),
        'a_seg.nii.gz': randomBytes(50_000),
        'a.gltf': Buffer.from('{"asset":{"version":"2.0"}}'),
      },
    });
    const b = await insertResult(db, deps.dataDir, { name: 'B', files: { 'b.glb': randomBytes(1000) } });
    const { base } = await listen(t, deps);

    const chosen = [`/api/results/${a.id}/files/a.glb`, `${base}/api/results/${b.id}/files/b.glb`];
    const res = await fetch(`${base}/api/downloads`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ files: chosen }),
    });
    assert.equal(res.status, 200);
    const link = (await res.json()) as { url: string; qrSvg: string; expiresAt: string; address: { source: string } };
    assert.ok(link.url.startsWith('https://models.example.org/d/'), link.url);
    assert.equal(link.address.source, 'public-url');
    assert.match(link.qrSvg, /^<svg[\s\S]*<\/svg>\s*$/);
    const ttl = Date.parse(link.expiresAt) - Date.now();
    assert.ok(ttl > 3590_000 && ttl <= 3601_000, `expires in ${ttl} ms`);

    const path = new URL(link.url).pathname;
    const page = await fetch(`${base}${path}`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    const html = await page.text();
    assert.match(html, /a\.glb/);
    assert.match(html, /b\.glb/);
    assert.doesNotMatch(html, /a_seg\.nii\.gz|a\.gltf/);
    // One same-origin script (local times, under the page's CSP); nothing inline.
    assert.deepEqual(html.match(/<script[^>]*>/gi), [
      html.match(/<script src="\/assets\/local-time-[\w-]+\.js" defer>/)?.[0],
    ]);
    assert.match(html, /Download all \(\.zip/);

    const zip = await fetch(`${base}${path}/zip`);
    assert.equal(zip.status, 200);
    assert.equal(zip.headers.get('content-type'), 'application/zip');
    const entries = await readZip(Buffer.from(await zip.arrayBuffer()));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['a.glb', 'b.glb'],
    );
    assert.ok(entries[0].data.equals(a.files['a.glb']));
    assert.ok(entries[1].data.equals(b.files['b.glb']));
    assert.ok(
      entries.every((e) => e.method === 0),
      '.glb is stored, not deflated',
    );

    const single = await fetch(`${base}${path}/files/1`);
    assert.equal(single.status, 200);
    assert.ok(Buffer.from(await single.arrayBuffer()).equals(b.files['b.glb']));
    assert.equal((await fetch(`${base}${path}/files/2`)).status, 404);
  });
});

test('unknown (altered) links get 403, expired links 410, bad requests explain themselves', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const a = await insertResult(db, deps.dataDir, { name: 'A', files: { 'a.glb': randomBytes(100) } });
    const { base } = await listen(t, deps);
    const res = await fetch(`${base}/api/downloads`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ files: [`/api/results/${a.id}/files/a.glb`] }),
    });
    const { url } = (await res.json()) as { url: string };
    const token = new URL(url).pathname.slice(3);
    const altered = token.slice(0, 4) + (token[4] === 'x' ? 'y' : 'x') + token.slice(5);
    for (const suffix of ['', '/zip', '/files/0']) {
      const r = await fetch(`${base}/d/${altered}${suffix}`);
      assert.equal(r.status, 403, `altered ${suffix}`);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.match(await (await fetch(`${base}/d/${altered}`)).text(), /Link not valid/);

    await db.query(`UPDATE download_links SET expires_at = now() - interval '1 second'`);
    const expired = token;
    const page = await fetch(`${base}/d/${expired}`);
    assert.equal(page.status, 410);
    assert.match(await page.text(), /Link expired/);
    assert.equal((await fetch(`${base}/d/${expired}/zip`)).status, 410);

    const post = (body: unknown) =>
      fetch(`${base}/api/downloads`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await post({ files: [] })).status, 400);
    assert.equal((await post({ files: ['/etc/passwd'] })).status, 400);
    const missing = await post({ files: [`/api/results/${a.id}/files/other.glb`] });
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /other\.glb/);
  });
});

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import Koa from 'koa';
import { errorMiddleware } from '../../server/http/errors.ts';
import { httpError } from '../../server/errors.ts';
import { createApp } from '../../server/http/app.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';

test('the error handler sees the response status, so a full disk can be logged as a condition, not a bug', async (t) => {
  const app = new Koa();
  const seen: Array<{ status: number; message: string }> = [];
  app.use(errorMiddleware((err, ctx) => seen.push({ status: ctx.status, message: err.message })));
  app.use((ctx) => {
    if (ctx.path === '/full') throw httpError(507, 'the server disk is full; try again later', { expose: true });
    if (ctx.path === '/bad') throw httpError(400, 'no files');
    throw new Error('internal detail');
  });
  const server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const full = await fetch(`${base}/full`);
  assert.equal(full.status, 507);
  assert.deepEqual(await full.json(), { error: 'the server disk is full; try again later' });
  const bad = await fetch(`${base}/bad`);
  assert.equal(bad.status, 400);
  const boom = await fetch(`${base}/boom`);
  assert.equal(boom.status, 500);
  assert.deepEqual(await boom.json(), { error: 'Internal Server Error' });
  // 4xx are the client's business and not reported; 5xx are, with the status already set.
  assert.deepEqual(seen, [
    { status: 507, message: 'the server disk is full; try again later' },
    { status: 500, message: 'internal detail' },
  ]);
});

test('an address no route answers gets a page in a browser and JSON for API clients', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const server = createServer(createApp(deps).callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const page = await fetch(`${base}/no-such-page?x=<b>`, { headers: { Accept: 'text/html' } });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.match(html, /<h1>Page not found<\/h1>/);
    assert.match(html, /There is no page at \/no-such-page\./);
    assert.match(html, /href="\/files"/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);

    const api = await fetch(`${base}/api/no-such-thing`, { headers: { Accept: 'text/html' } });
    assert.equal(api.status, 404);
    assert.doesNotMatch(await api.text(), /<html/);
    const json = await fetch(`${base}/no-such-page`, { headers: { Accept: 'application/json' } });
    assert.equal(json.status, 404);
    assert.doesNotMatch(await json.text(), /<html/);
  });
});

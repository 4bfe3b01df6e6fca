import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import Koa from 'koa';
import { errorMiddleware } from '../../server/http/errors.ts';
import { httpError } from '../../server/errors.ts';

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

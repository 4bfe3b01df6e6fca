import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { createApp } from '../../server/http/app.ts';
import type { AppContext } from '../../server/app/context.ts';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';

async function serve(t: TestContext, deps: AppContext): Promise<string> {
  const server: Server = createServer(createApp(deps).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

for (const driver of testDatabases()) {
  test(`GET /healthz reports database, worker, engine and disk (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      deps.engine = { engine: builtinEngine, reason: 'ENGINE=builtin' };
      deps.runtime = {
        startedAt: new Date(),
        worker: { status: () => ({ alive: true, running: 0, concurrency: 1, lastLoopAt: new Date() }) },
      };
      const base = await serve(t, deps);
      const res = await fetch(`${base}/healthz`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as Record<string, { [k: string]: unknown }>;
      assert.equal(body.status, 'ok');
      assert.deepEqual(body.database, { ok: true, driver: db.driver });
      assert.equal(body.worker.alive, true);
      assert.deepEqual(body.engine, { name: 'builtin', reason: 'ENGINE=builtin' });
      assert.equal(typeof body.disk.freeMb, 'number');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    });
  });

  test(`the jobs API lists, shows with log, cancels and retries jobs (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const base = await serve(t, deps);
      const a = await deps.queue.add('process', {
        name: 'CT_Thorax_1a2b',
        input: {
          kind: 'dicom-series',
          files: ['dicom/1/2/3.dcm'],
          studyInstanceUid: '1',
          seriesInstanceUid: '2',
          seriesDescription: 'CT Thorax',
        },
      });
      await deps.queue.appendLog(a.id, 1, ['reading series', 'segmenting']);

      const list = (await (await fetch(`${base}/api/jobs`)).json()) as {
        jobs: Array<Record<string, unknown>>;
        counts: Record<string, number>;
      };
      assert.equal(list.jobs.length, 1);
      assert.equal(list.jobs[0].id, a.id);
      assert.equal(list.jobs[0].state, 'queued');
      assert.equal(list.jobs[0].seriesDescription, 'CT Thorax');
      assert.equal(list.jobs[0].progress, 0);
      assert.ok(!('payload' in list.jobs[0]), 'the payload (file paths) stays private');
      assert.equal(list.counts.queued, 1);

      const one = (await (await fetch(`${base}/api/jobs/${a.id}`)).json()) as { log: Array<{ line: string }> };
      assert.deepEqual(
        one.log.map((l) => l.line),
        ['reading series', 'segmenting'],
      );

      assert.equal((await fetch(`${base}/api/jobs/00000000-0000-0000-0000-000000000000`)).status, 404);
      assert.equal((await fetch(`${base}/api/jobs/not-a-uuid`)).status, 404);
      assert.equal((await fetch(`${base}/api/jobs?state=bogus`)).status, 400);

      const retryQueued = await fetch(`${base}/api/jobs/${a.id}/retry`, { method: 'POST' });
      assert.equal(retryQueued.status, 409);

      const cancelled = await fetch(`${base}/api/jobs/${a.id}/cancel`, { method: 'POST' });
      assert.equal(cancelled.status, 202);
      assert.equal(((await cancelled.json()) as { state: string }).state, 'cancelled');
      assert.equal((await fetch(`${base}/api/jobs/${a.id}/cancel`, { method: 'POST' })).status, 409);

      const retried = await fetch(`${base}/api/jobs/${a.id}/retry`, { method: 'POST' });
      assert.equal(retried.status, 202);
      assert.equal(((await retried.json()) as { state: string }).state, 'queued');

      const filtered = (await (await fetch(`${base}/api/jobs?state=failed`)).json()) as { jobs: unknown[] };
      assert.equal(filtered.jobs.length, 0);
    });
  });
}

test('an unexpected error becomes a 500 without its message; the error is logged', async (t) => {
  const { errorMiddleware } = await import('../../server/http/errors.ts');
  const Koa = (await import('koa')).default;
  const app = new Koa();
  const logged: string[] = [];
  app.use(errorMiddleware((err) => logged.push(err.message)));
  app.use(() => {
    throw new Error('password=hunter2 in a stack');
  });
  const server = createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: 'Internal Server Error' });
  assert.deepEqual(logged, ['password=hunter2 in a stack']);
});

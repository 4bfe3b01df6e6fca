import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from '../../server/db/database.ts';
import { openPgliteDatabase } from '../../server/db/pgliteDatabase.ts';
import { migrate } from '../../server/db/migrate.ts';
import { silentLogger } from '../../server/log.ts';
import { Queue } from '../../server/jobs/queue.ts';
import type { TaskList } from '../../server/jobs/task.ts';
import { Worker } from '../../server/jobs/worker.ts';

/**
 * The worker with a database that stops answering for a while (a restart, as seen by the worker: every
 * query fails). The real-server version of this is test/faults/pgRestart.test.ts.
 */

interface Switchable {
  db: Database;
  setDown(down: boolean): void;
}

/** `db` with a switch that makes every query fail like a dropped connection. */
function switchable(db: Database): Switchable {
  let down = false;
  const refuse = (): Error =>
    Object.assign(new Error('connect ECONNREFUSED (test: database down)'), { code: 'ECONNREFUSED' });
  const wrapped: Database = {
    driver: db.driver,
    query: (sql, params) => (down ? Promise.reject(refuse()) : db.query(sql, params)),
    exec: (sql) => (down ? Promise.reject(refuse()) : db.exec(sql)),
    transaction: (fn) => (down ? Promise.reject(refuse()) : db.transaction(fn)),
    listen: (channel, onNotify) => db.listen(channel, onNotify),
    notify: (channel, payload) => (down ? Promise.reject(refuse()) : db.notify(channel, payload)),
    close: () => db.close(),
  };
  return { db: wrapped, setDown: (d) => (down = d) };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('a completion that fails because the database is down is retried until it is recorded: the job succeeds, once, and no unhandled rejection escapes', async (t) => {
  const base = await openPgliteDatabase(undefined);
  t.after(() => base.close());
  await migrate(base);
  const { db, setDown } = switchable(base);
  const queue = new Queue(db);
  let runs = 0;
  let finished = false;
  const tasks: TaskList = {
    short: async () => {
      runs++;
      await sleep(200);
      // The database goes away just before the worker records the outcome.
      setDown(true);
      finished = true;
    },
  };
  const w = new Worker({
    db,
    queue,
    tasks,
    logger: silentLogger(),
    concurrency: 1,
    pollIntervalMs: 50,
    leaseSeconds: 30,
  });
  const job = await queue.add('short', {});
  await w.start();
  t.after(() => w.stop(1000));
  await waitFor('the handler to finish', async () => finished);
  await sleep(1200);
  setDown(false);
  const done = await waitFor('the job to be recorded', async () => {
    const j = await queue.get(job.id);
    return j && j.state !== 'running' ? j : undefined;
  });
  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempts, 1);
  assert.equal(runs, 1);
});

test('a job whose lease the database cannot confirm is stopped before the lease lapses, given back without counting the attempt, and runs again after the database returns', async (t) => {
  const base = await openPgliteDatabase(undefined);
  t.after(() => base.close());
  await migrate(base);
  const { db, setDown } = switchable(base);
  const queue = new Queue(db);
  const LEASE_SECONDS = 2;
  const runs: Array<{ start: number; end?: number; aborted?: boolean }> = [];
  const tasks: TaskList = {
    long: async (_job, helpers) => {
      const run: { start: number; end?: number; aborted?: boolean } = { start: Date.now() };
      runs.push(run);
      try {
        if (runs.length > 1) return;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 20_000);
          helpers.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(helpers.signal.reason as Error);
          });
        });
      } finally {
        run.end = Date.now();
        run.aborted = helpers.signal.aborted;
      }
    },
  };
  const w = new Worker({
    db,
    queue,
    tasks,
    logger: silentLogger(),
    concurrency: 1,
    pollIntervalMs: 50,
    leaseSeconds: LEASE_SECONDS,
  });
  const job = await queue.add('long', {});
  await w.start();
  t.after(() => w.stop(1000));
  await waitFor('the job to run', async () => runs.length === 1);
  const claimed = await queue.get(job.id);
  assert.ok(claimed?.leaseExpiresAt);
  setDown(true);
  await waitFor('the handler to be stopped', async () => runs[0].end !== undefined, 10_000);
  assert.equal(runs[0].aborted, true);
  // Down before the first renewal was due: the lease granted by the claim is the one that must not lapse.
  assert.ok(runs[0].end! < claimed.leaseExpiresAt.getTime(), 'stopped before the lease lapsed');
  setDown(false);
  const done = await waitFor('the job to succeed', async () => {
    const j = await queue.get(job.id);
    return j?.state === 'succeeded' ? j : undefined;
  });
  assert.equal(runs.length, 2);
  assert.ok(runs[1].start >= runs[0].end!, 'the second run began after the first had stopped');
  assert.equal(done.attempts, 1, 'the attempt lost to the outage is not counted');
});

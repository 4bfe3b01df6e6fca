import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from '../../server/jobs/queue.ts';
import { Worker } from '../../server/jobs/worker.ts';
import type { TaskList } from '../../server/jobs/task.ts';
import { PermanentError } from '../../server/errors.ts';
import { silentLogger } from '../../server/log.ts';
import type { Database } from '../../server/db/database.ts';
import { testDatabases, withTestDatabase } from '../support/db.ts';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function worker(
  db: Database,
  queue: Queue,
  tasks: TaskList,
  extra: Partial<ConstructorParameters<typeof Worker>[0]> = {},
): Worker {
  return new Worker({
    db,
    queue,
    tasks,
    logger: silentLogger(),
    concurrency: 1,
    pollIntervalMs: 50,
    leaseSeconds: 30,
    ...extra,
  });
}

for (const driver of testDatabases()) {
  test(`4 workers over 200 jobs run every job exactly once (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      const runs = new Map<number, number>();
      const tasks: TaskList = {
        count: async (job) => {
          const n = (job.payload as { n: number }).n;
          runs.set(n, (runs.get(n) ?? 0) + 1);
        },
      };
      for (let i = 0; i < 200; i++) await queue.add('count', { n: i });
      const workers = [0, 1, 2, 3].map((i) => worker(db, queue, tasks, { workerId: `w${i}`, concurrency: 2 }));
      await Promise.all(workers.map((w) => w.start()));
      await waitFor('all jobs done', async () => (await queue.counts()).succeeded === 200 || undefined, 60_000);
      await Promise.all(workers.map((w) => w.stop()));
      assert.equal(runs.size, 200);
      for (const [n, c] of runs) assert.equal(c, 1, `job ${n} ran ${c} times`);
      const claimed = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE attempts <> 1`);
      assert.equal(claimed.rows[0].n, 0, 'a job was claimed more than once');
    });
  });

  test(`a job whose worker died (lease lapsed) is run again by another worker (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      const job = await queue.add('work', {});
      // A worker claims the job with a 1 s lease and then "dies": it never renews or finishes.
      const claimed = await queue.claim('dead-worker', ['work'], 1);
      assert.equal(claimed?.id, job.id);
      assert.equal(await queue.claim('other', ['work'], 30), undefined, 'a leased job must not be claimable');
      let ranBy: string | undefined;
      const w = worker(db, queue, { work: async () => void (ranBy = 'second') }, { workerId: 'second' });
      await w.start();
      const done = await waitFor('job re-run', async () => {
        const j = await queue.get(job.id);
        return j?.state === 'succeeded' ? j : undefined;
      });
      await w.stop();
      assert.equal(ranBy, 'second');
      assert.equal(done.attempts, 2);
      // The dead worker can no longer complete what it lost.
      assert.equal(await queue.complete(job.id, 'dead-worker'), false);
    });
  });

  test(`failures retry with exponential backoff up to max attempts, then fail with the error kept (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db, { backoffBaseSeconds: 0.2, backoffMaxSeconds: 10 });
      const starts: number[] = [];
      const w = worker(db, queue, {
        flaky: async (job) => {
          starts.push(Date.now());
          throw new Error(`boom on attempt ${job.attempt}`);
        },
      });
      const job = await queue.add('flaky', {}, { maxAttempts: 3 });
      await w.start();
      const failed = await waitFor('job failed', async () => {
        const j = await queue.get(job.id);
        return j?.state === 'failed' ? j : undefined;
      });
      await w.stop();
      assert.equal(starts.length, 3);
      assert.equal(failed.attempts, 3);
      assert.equal(failed.lastError, 'boom on attempt 3');
      // Backoff doubles: about 0.2 s before the 2nd attempt, 0.4 s before the 3rd.
      assert.ok(starts[1] - starts[0] >= 180, `first backoff ${starts[1] - starts[0]} ms`);
      assert.ok(starts[2] - starts[1] >= 380, `second backoff ${starts[2] - starts[1]} ms`);
      const log = await queue.log(job.id);
      assert.ok(log.some((l) => l.line.includes('boom on attempt 1')));
    });
  });

  test(`a permanent error fails at once without retrying (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      let runs = 0;
      const w = worker(db, queue, {
        bad: async () => {
          runs++;
          throw new PermanentError('series has only 2 slices');
        },
      });
      const job = await queue.add('bad', {}, { maxAttempts: 5 });
      await w.start();
      const failed = await waitFor('failed', async () =>
        (await queue.get(job.id))?.state === 'failed' ? queue.get(job.id) : undefined,
      );
      await w.stop();
      assert.equal(runs, 1);
      assert.equal(failed?.lastError, 'series has only 2 slices');
    });
  });

  test(`cancel stops a running job through its AbortSignal; retry queues it again (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      let started = false;
      let abortedWith: unknown;
      const w = worker(
        db,
        queue,
        {
          slow: async (_job, { signal }) => {
            started = true;
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(resolve, 30_000);
              signal.addEventListener('abort', () => {
                clearTimeout(timer);
                abortedWith = signal.reason;
                reject(signal.reason);
              });
            });
          },
        },
        { leaseSeconds: 3 },
      );
      const job = await queue.add('slow', {});
      await w.start();
      await waitFor('started', async () => started);
      const t0 = Date.now();
      const flagged = await queue.cancel(job.id);
      assert.equal(flagged?.cancelRequested, true);
      const cancelled = await waitFor('cancelled', async () => {
        const j = await queue.get(job.id);
        return j?.state === 'cancelled' ? j : undefined;
      });
      assert.ok(Date.now() - t0 < 5000, 'cancel took too long');
      assert.ok(abortedWith instanceof Error);
      assert.ok(cancelled.finishedAt);

      started = false;
      const again = await queue.retry(job.id);
      assert.ok(again?.state === 'queued' || again?.state === 'running');
      await waitFor('started again', async () => started);
      await queue.cancel(job.id);
      await waitFor('cancelled again', async () =>
        (await queue.get(job.id))?.state === 'cancelled' ? true : undefined,
      );
      await w.stop();
    });
  });

  test(`cancel of a queued job takes effect at once; unknown ids give undefined (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      const job = await queue.add('never', {});
      const c = await queue.cancel(job.id);
      assert.equal(c?.state, 'cancelled');
      assert.equal(await queue.claim('w', ['never'], 30), undefined);
      assert.equal(await queue.cancel('00000000-0000-0000-0000-000000000000'), undefined);
      assert.equal(await queue.get('not-a-uuid'), undefined);
    });
  });

  test(`a keyed job is debounced: adding again while queued moves it instead of duplicating (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      const soon = new Date(Date.now() + 60_000);
      const later = new Date(Date.now() + 120_000);
      const a = await queue.add('stable', { v: 1 }, { key: 'series:1', runAfter: soon });
      const b = await queue.add('stable', { v: 2 }, { key: 'series:1', runAfter: later });
      assert.equal(a.id, b.id);
      const j = (await queue.get(a.id)) as Job<{ v: number }> | undefined;
      assert.equal(j?.payload.v, 2);
      assert.equal(j?.runAfter.getTime(), later.getTime());
      const other = await queue.add('stable', { v: 3 }, { key: 'series:2' });
      assert.notEqual(other.id, a.id);
      // Once the keyed job runs, a new add creates a fresh queued job for the same key.
      await db.query(`UPDATE jobs SET run_after = now() WHERE id = $1`, [a.id]);
      const claimed = await queue.claim('w', ['stable'], 30);
      assert.ok(claimed);
      const c = await queue.add('stable', { v: 4 }, { key: claimed.key ?? '' });
      assert.notEqual(c.id, claimed.id);
    });
  });

  test(`graceful stop gives a long job back to the queue without spending an attempt (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db);
      let started = false;
      const w = worker(db, queue, {
        long: (_job, { signal }) =>
          new Promise<void>((_resolve, reject) => {
            started = true;
            signal.addEventListener('abort', () => reject(signal.reason));
          }),
      });
      const job = await queue.add('long', {});
      await w.start();
      await waitFor('started', async () => started);
      await w.stop(200);
      const j = await queue.get(job.id);
      assert.equal(j?.state, 'queued');
      assert.equal(j?.attempts, 0);
      assert.equal(j?.leaseOwner, null);
    });
  });
}

for (const driver of testDatabases()) {
  test(`a job whose worker dies on every attempt ends failed with the reason, not in a loop (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const queue = new Queue(db, { sweepIntervalMs: 0 });
      const job = await queue.add('crashy', {}, { maxAttempts: 2 });
      assert.ok(await queue.claim('w1', ['crashy'], 0.1));
      await sleep(200);
      assert.ok(await queue.claim('w2', ['crashy'], 0.1), 'the lapsed lease is claimable again');
      await sleep(200);
      assert.equal(await queue.claim('w3', ['crashy'], 30), undefined);
      const j = await queue.get(job.id);
      assert.equal(j?.state, 'failed');
      assert.match(j?.lastError ?? '', /stopped responding \(attempt 2 of 2\)/);
    });
  });
}

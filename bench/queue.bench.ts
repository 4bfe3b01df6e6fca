/**
 * Queue throughput: enqueue, then claim + complete 10,000 no-op jobs, on PGlite and on PostgreSQL
 * (BENCH_DATABASE_URL or TEST_DATABASE_URL; skipped with a note when neither is set).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../server/db/database.ts';
import { migrate } from '../server/db/migrate.ts';
import { openPgDatabase } from '../server/db/pgDatabase.ts';
import { openPgliteDatabase } from '../server/db/pgliteDatabase.ts';
import { Queue } from '../server/jobs/queue.ts';
import { Worker } from '../server/jobs/worker.ts';
import { silentLogger } from '../server/log.ts';
import { round, seconds } from './support.ts';

const JOBS = Number(process.env.BENCH_QUEUE_JOBS ?? 10_000);

async function measure(db: Database, workers: number, concurrency: number): Promise<Record<string, number>> {
  await migrate(db);
  const queue = new Queue(db);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < JOBS; i++) await queue.add('noop', { i });
  const enqueueS = seconds(t0);

  let done = 0;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (finished = r));
  const tasks = {
    noop: async () => {
      if (++done === JOBS) finished();
    },
  };
  const pool = Array.from(
    { length: workers },
    (_, i) =>
      new Worker({
        db,
        queue,
        tasks,
        logger: silentLogger(),
        concurrency,
        pollIntervalMs: 100,
        workerId: `bench-${i}`,
      }),
  );
  const t1 = process.hrtime.bigint();
  await Promise.all(pool.map((w) => w.start()));
  await allDone;
  const processS = seconds(t1);
  await Promise.all(pool.map((w) => w.stop()));
  const succeeded = (await queue.counts()).succeeded;
  if (succeeded !== JOBS) throw new Error(`expected ${JOBS} succeeded jobs, found ${succeeded}`);
  return {
    jobs: JOBS,
    workers,
    concurrencyPerWorker: concurrency,
    enqueueSeconds: round(enqueueS),
    enqueuePerSecond: Math.round(JOBS / enqueueS),
    claimCompleteSeconds: round(processS),
    claimCompletePerSecond: Math.round(JOBS / processS),
    totalPerSecond: Math.round(JOBS / (enqueueS + processS)),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const lite = await openPgliteDatabase(undefined);
  try {
    out.pglite = await measure(lite, 1, 4);
  } finally {
    await lite.close();
  }
  const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!url) {
    out.postgres = { skipped: 'set BENCH_DATABASE_URL or TEST_DATABASE_URL to measure PostgreSQL' };
    return out;
  }
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    const db = await openPgDatabase(url, silentLogger(), { searchPath: schema, max: 12 });
    try {
      out.postgres = await measure(db, 4, 2);
    } finally {
      await db.close();
    }
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
  return out;
}

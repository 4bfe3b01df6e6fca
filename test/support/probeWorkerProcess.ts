/**
 * A `worker` process for fault tests, wired like `server/main.ts worker` (the production openPgDatabase,
 * Queue and Worker, one pool per process, SIGTERM stops it gracefully) but with one test-only task kind
 * instead of the production task list, so production never registers it.
 *
 * The task sleeps for `payload.ms` and appends its start and end (with this worker's id) to PROBE_EVENTS
 * as JSON lines, synchronously, so the test can check that no job ran twice at the same time. It also
 * takes a per-job lock folder under PROBE_LOCKS for the duration of the run: finding it taken means two
 * runs of one job overlap, whatever the clocks say.
 *
 * Environment: DATABASE_URL, PROBE_EVENTS, PROBE_LOCKS, JOB_LEASE_SECONDS, WORKER_CONCURRENCY, PROBE_POLL_MS.
 */
import { appendFileSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { openPgDatabase } from '../../server/db/pgDatabase.ts';
import { Queue } from '../../server/jobs/queue.ts';
import type { TaskHandler } from '../../server/jobs/task.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { createLogger } from '../../server/log.ts';

export const PROBE_KIND = 'test-probe-sleep';

export interface ProbeEvent {
  ev: 'start' | 'end';
  job: string;
  n: number;
  worker: string;
  attempt: number;
  /** Date.now(); every process runs on this machine, so the clocks agree. */
  t: number;
  /** start: the job's lock was already taken by another run. */
  overlapped?: boolean;
  /** end: the run was stopped through its AbortSignal. */
  aborted?: boolean;
}

export interface ProbePayload {
  n: number;
  ms: number;
}

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function main(): Promise<void> {
  const logger = createLogger('info');
  const eventsFile = env('PROBE_EVENTS');
  const locks = env('PROBE_LOCKS');
  const db = await openPgDatabase(env('DATABASE_URL'), logger);
  const queue = new Queue(db, { backoffBaseSeconds: 0.2, backoffMaxSeconds: 1 });
  let workerId = '';
  const record = (e: Omit<ProbeEvent, 'worker' | 't'>): void => {
    appendFileSync(eventsFile, `${JSON.stringify({ ...e, worker: workerId, t: Date.now() })}\n`);
  };
  const probe: TaskHandler<ProbePayload> = async (job, helpers) => {
    const lock = join(locks, job.id);
    let overlapped = false;
    try {
      mkdirSync(lock);
    } catch {
      overlapped = true;
    }
    record({ ev: 'start', job: job.id, n: job.payload.n, attempt: job.attempt, overlapped });
    try {
      // Progress writes go to the database like a real task's, so an outage hits them mid-run.
      await helpers.progress(10, 'sleeping');
      await sleep(job.payload.ms, helpers.signal);
      await helpers.progress(90, 'woke up');
    } finally {
      record({ ev: 'end', job: job.id, n: job.payload.n, attempt: job.attempt, aborted: helpers.signal.aborted });
      if (!overlapped) rmdirSync(lock);
    }
  };
  const worker = new Worker({
    db,
    queue,
    tasks: { [PROBE_KIND]: probe },
    logger,
    concurrency: Number(process.env.WORKER_CONCURRENCY ?? '2'),
    leaseSeconds: Number(process.env.JOB_LEASE_SECONDS ?? '3'),
    pollIntervalMs: Number(process.env.PROBE_POLL_MS ?? '250'),
  });
  workerId = worker.id;
  await worker.start();
  logger.info({ workerId }, 'worker started');
  process.once('SIGTERM', () => {
    void (async () => {
      await worker.stop(10_000);
      await db.close();
      logger.info('stopped');
      process.exit(0);
    })();
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`probe worker: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../../server/db/database.ts';
import { migrate } from '../../server/db/migrate.ts';
import { openPgDatabase } from '../../server/db/pgDatabase.ts';
import { Queue } from '../../server/jobs/queue.ts';
import { silentLogger } from '../../server/log.ts';
import { tempDataDir } from '../support/db.ts';
import { hasPostgresServer, startPrivatePostgres, type PrivatePostgres } from '../support/privatePostgres.ts';
import { PROBE_KIND, type ProbeEvent, type ProbePayload } from '../support/probeWorkerProcess.ts';
import { requireOrSkip } from '../support/requirements.ts';
import { startServerProcess, waitFor } from '../support/serverProcess.ts';

/**
 * A real PostgreSQL restarted under running work (issue 7): the fast and immediate shutdown modes, and
 * an outage longer than the job lease. Worker processes must reconnect and carry on, no accepted job
 * may be lost, and no job may run twice at the same time.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const LEASE_SECONDS = 3;
const JOBS = 80;
/** Jobs that outlast the outage: their lease lapses in the database while their handler still runs. */
const LONG_JOBS = new Set([50, 51]);
const LONG_JOB_MS = 8000;

interface ProbeWorker {
  output(): string;
  exitCode(): number | null;
  stop(): Promise<number | null>;
}

async function startProbeWorker(t: TestContext, env: Record<string, string>): Promise<ProbeWorker> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'support', 'probeWorkerProcess.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  t.after(async () => {
    if (code === undefined) child.kill('SIGKILL');
    await exited;
  });
  await waitFor(
    'the worker to start',
    async () => {
      if (code !== undefined) throw new Error(`the worker exited (${code}):\n${out}`);
      return out.includes('"worker started"') ? true : undefined;
    },
    30_000,
    50,
  );
  return {
    output: () => out,
    exitCode: () => code ?? null,
    async stop() {
      if (code === undefined) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const c = await exited;
      clearTimeout(timer);
      return c;
    },
  };
}

async function stateCounts(db: Database): Promise<Record<string, number>> {
  const res = await db.query<{ state: string; n: number }>(
    'SELECT state, count(*)::int AS n FROM jobs WHERE kind = $1 GROUP BY state',
    [PROBE_KIND],
  );
  return Object.fromEntries(res.rows.map((r) => [r.state, r.n]));
}

async function healthStatus(url: string): Promise<number> {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(15_000) });
  await res.arrayBuffer();
  return res.status;
}

/** Waits until at least `n` probe jobs have succeeded (queries fail while the database is down: retried). */
async function succeededAtLeast(db: Database, n: number): Promise<void> {
  await waitFor(
    `${n} jobs to succeed`,
    async () => ((await stateCounts(db)).succeeded ?? 0) >= n || undefined,
    40_000,
    50,
  );
}

test(
  'PostgreSQL restarted (fast, immediate, and down for longer than the lease) while two worker processes run a stream of jobs: they reconnect, every job succeeds, none runs twice at once; /healthz is 503 while the database is down and 200 after',
  { timeout: 150_000 },
  async (t) => {
    if (!requireOrSkip(t, hasPostgresServer(), 'PostgreSQL server binaries (initdb, pg_ctl)')) return;
    const pgServer: PrivatePostgres = await startPrivatePostgres(t);
    const dir = await tempDataDir(t);
    const eventsFile = join(dir, 'events.jsonl');
    const locks = join(dir, 'locks');
    await mkdir(locks);
    await writeFile(eventsFile, '');

    const db = await openPgDatabase(pgServer.url, silentLogger(), { max: 2 });
    t.after(() => db.close());
    await migrate(db);

    // A serve process (no worker of its own) only for /healthz against this database.
    const serve = await startServerProcess(t, {
      dataDir: join(dir, 'serve'),
      env: { DATABASE_URL: pgServer.url, WORKER_CONCURRENCY: '0' },
    });
    assert.equal(await healthStatus(serve.url), 200);

    const workerEnv = {
      DATABASE_URL: pgServer.url,
      PROBE_EVENTS: eventsFile,
      PROBE_LOCKS: locks,
      JOB_LEASE_SECONDS: String(LEASE_SECONDS),
      WORKER_CONCURRENCY: '2',
      PROBE_POLL_MS: '250',
    };
    const workers = await Promise.all([startProbeWorker(t, workerEnv), startProbeWorker(t, workerEnv)]);

    const queue = new Queue(db);
    const ids: string[] = [];
    for (let n = 0; n < JOBS; n++) {
      const payload: ProbePayload = { n, ms: LONG_JOBS.has(n) ? LONG_JOB_MS : 200 + ((n * 97) % 300) };
      ids.push((await queue.add(PROBE_KIND, payload)).id);
    }

    try {
      // 1. A fast restart: sessions are terminated, the server is back within a second or so.
      await succeededAtLeast(db, 10);
      await pgServer.restart('fast');

      // 2. An immediate restart: the server dies without cleanup and recovers from its WAL.
      await succeededAtLeast(db, 25);
      await pgServer.restart('immediate');

      // 3. Down for longer than the job lease while the long jobs run: their leases lapse in the database
      // while their handlers still run, and the other worker would claim them as soon as it is back.
      await waitFor(
        'the long jobs to run',
        async () => {
          const res = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM jobs WHERE kind = $1 AND state = 'running' AND (payload->>'n')::int = ANY($2::int[])`,
            [PROBE_KIND, [...LONG_JOBS]],
          );
          return res.rows[0].n === LONG_JOBS.size || undefined;
        },
        40_000,
        50,
      );
      await pgServer.stop('immediate');
      const downAt = Date.now();
      assert.equal(await healthStatus(serve.url), 503, '/healthz while the database is down');
      await new Promise((r) => setTimeout(r, Math.max(0, LEASE_SECONDS * 1000 + 2000 - (Date.now() - downAt))));
      assert.equal(await healthStatus(serve.url), 503, '/healthz while the database is still down');
      await pgServer.start();
      await waitFor(
        '/healthz to answer 200 again',
        async () => ((await healthStatus(serve.url)) === 200 ? true : undefined),
        30_000,
        200,
      );

      // NOTIFY wakes idle workers and feeds the live queue page: each process's LISTEN connection is back,
      // once (two workers, one serve process), not duplicated by overlapping reconnect attempts.
      await waitFor(
        'the LISTEN connections to be back',
        async () => {
          const res = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN %'`,
          );
          return res.rows[0].n === 3 || undefined;
        },
        40_000,
        200,
      );

      await waitFor(
        'every job to finish',
        async () => {
          const c = await stateCounts(db);
          return (c.succeeded ?? 0) + (c.failed ?? 0) + (c.cancelled ?? 0) === JOBS ? c : undefined;
        },
        60_000,
        200,
      );
    } catch (err) {
      const logs = workers.map((w, i) => `--- worker ${i + 1}:\n${w.output().slice(-3000)}`).join('\n');
      throw new Error(`${(err as Error).message}\n${logs}\n--- postgres:\n${(await pgServer.log()).slice(-2000)}`, {
        cause: err,
      });
    }

    // Every accepted job is there and succeeded.
    const rows = await db.query<{ id: string; state: string; attempts: number; last_error: string | null }>(
      'SELECT id, state, attempts, last_error FROM jobs WHERE kind = $1',
      [PROBE_KIND],
    );
    assert.equal(rows.rowCount, JOBS, 'no job lost');
    const notSucceeded = rows.rows.filter((r) => r.state !== 'succeeded');
    assert.deepEqual(notSucceeded, [], 'every job succeeded');

    // Runs of one job never overlap: each start is followed by its own end before the next start.
    const events = (await readFile(eventsFile, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ProbeEvent);
    assert.deepEqual(
      events.filter((e) => e.overlapped),
      [],
      "no run found its job's lock taken",
    );
    const byJob = new Map<string, ProbeEvent[]>();
    for (const e of events) byJob.set(e.job, [...(byJob.get(e.job) ?? []), e]);
    assert.deepEqual(new Set(byJob.keys()), new Set(ids), 'every job ran');
    let reruns = 0;
    for (const [job, evs] of byJob) {
      const runs: Array<{ start: ProbeEvent; end?: ProbeEvent }> = [];
      for (const e of evs) {
        if (e.ev === 'start') runs.push({ start: e });
        else {
          const run = runs.find((r) => !r.end && r.start.worker === e.worker && r.start.attempt === e.attempt);
          assert.ok(run, `an end without a start for job ${job}`);
          run.end = e;
        }
      }
      runs.sort((a, b) => a.start.t - b.start.t);
      for (const r of runs)
        assert.ok(r.end, `job ${job}: the run by ${r.start.worker} (attempt ${r.start.attempt}) never ended`);
      for (let i = 1; i < runs.length; i++) {
        const prev = runs[i - 1];
        assert.ok(
          (prev.end as ProbeEvent).t <= runs[i].start.t,
          `job ${job} ran twice at once: ${prev.start.worker} ${prev.start.t}..${prev.end?.t}, ${runs[i].start.worker} from ${runs[i].start.t}`,
        );
      }
      reruns += runs.length - 1;
      assert.ok(
        runs.some((r) => !r.end?.aborted),
        `job ${job}: one run went through to the end`,
      );
    }
    const workerIds = new Set(events.map((e) => e.worker));
    assert.equal(workerIds.size, 2, 'both workers ran jobs');
    t.diagnostic(`${events.length / 2} runs for ${JOBS} jobs (${reruns} run again after an outage)`);
    for (const n of LONG_JOBS) {
      const runs = events.filter((e) => e.n === n && e.ev === 'end');
      assert.ok(
        runs.length >= 2 && runs[0].aborted,
        `long job ${n} was stopped by the outage and run again: ${JSON.stringify(runs)}`,
      );
    }

    // Both workers lived through it and stop cleanly.
    for (const w of workers) assert.equal(w.exitCode(), null, `a worker died:\n${w.output().slice(-3000)}`);
    for (const w of workers) assert.equal(await w.stop(), 0);
    assert.equal(await serve.stop(), 0);
  },
);

/**
 * Drop to done for a 20-slice DICOM folder sent as the upload page sends it (one multipart request, then "all sent":
 * POST /api/uploads/complete), with the built-in engine and one worker in this process, against the same folder left
 * to the quiet period (SERIES_STABLE_SECONDS=10, the default). Figures per phase: upload answered, job queued, job
 * done. Needs the real test data (TEST_DATA_DIR); the target is drop to done within 6 s.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../server/config/config.ts';
import { migrate } from '../server/db/migrate.ts';
import { openPgliteDatabase } from '../server/db/pgliteDatabase.ts';
import { createApp } from '../server/http/app.ts';
import { buildContext } from '../server/app/buildContext.ts';
import { taskList } from '../server/app/tasks.ts';
import { Worker } from '../server/jobs/worker.ts';
import { silentLogger } from '../server/log.ts';
import { builtinEngine } from '../server/engines/builtin/builtinEngine.ts';
import { TEST_DATA_DIR } from '../test/support/requirements.ts';

const FOLDER = join(TEST_DATA_DIR, 'derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_uncompressed');

async function oneRun(complete: boolean): Promise<Record<string, number>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-upload-bench-'));
  const config = loadConfig({ DATA_DIR: dataDir, AUTH: 'off', LOG_LEVEL: 'silent', MIN_FREE_DISK_MB: '0' });
  const db = await openPgliteDatabase(join(dataDir, 'pglite'));
  await migrate(db);
  const engine = { engine: builtinEngine, reason: 'bench' };
  const deps = { ...buildContext({ config, db, logger: silentLogger(), engine }), engine };
  const worker = new Worker({ db, queue: deps.queue, tasks: taskList(deps), logger: deps.logger, concurrency: 1 });
  await worker.start();
  const server = createServer(createApp(deps).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const names = readdirSync(FOLDER).sort();
    const files = await Promise.all(names.map((n) => readFile(join(FOLDER, n))));
    const form = new FormData();
    files.forEach((data, i) => form.append('files', new Blob([new Uint8Array(data)]), `folder/${names[i]}`));
    const t0 = performance.now();
    const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
    const report = (await res.json()) as { accepted: Array<{ seriesInstanceUid?: string }> };
    const answered = performance.now() - t0;
    if (complete) {
      const series = [...new Set(report.accepted.map((a) => a.seriesInstanceUid).filter(Boolean))];
      await fetch(`${url}/api/uploads/complete`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ series }),
      });
    }
    let queued = NaN;
    for (;;) {
      const { rows } = await db.query<{ state: string }>(`SELECT state FROM jobs WHERE kind = 'process'`);
      if (rows.length > 0 && Number.isNaN(queued)) queued = performance.now() - t0;
      if (rows[0]?.state === 'succeeded') break;
      if (rows[0]?.state === 'failed') throw new Error('the job failed');
      await new Promise((r) => setTimeout(r, 20));
    }
    const done = performance.now() - t0;
    const { rows } = await db.query<{ ran: number }>(
      `SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ran FROM jobs WHERE kind = 'process'`,
    );
    return { uploadMs: answered, queuedMs: queued, doneMs: done, jobRunMs: Number(rows[0].ran) };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await worker.stop(2000);
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, unknown>> {
  if (!existsSync(FOLDER)) return { skipped: `no test data at ${FOLDER}` };
  const withComplete: Array<Record<string, number>> = [];
  const quietPeriod: Array<Record<string, number>> = [];
  for (let i = 0; i < 3; i++) withComplete.push(await oneRun(true));
  quietPeriod.push(await oneRun(false));
  const median = (runs: Array<Record<string, number>>, key: string) =>
    Math.round(runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)]);
  const summary = (runs: Array<Record<string, number>>) =>
    Object.fromEntries(['uploadMs', 'queuedMs', 'jobRunMs', 'doneMs'].map((k) => [k, median(runs, k)]));
  return {
    series: '20 slices, 512x512, uncompressed (totalseg_torso_20sl_uids_uncompressed)',
    engine: 'builtin',
    uploadThenComplete: { runs: withComplete.length, ...summary(withComplete) },
    quietPeriod10s: { runs: quietPeriod.length, ...summary(quietPeriod) },
    targetDoneMs: 6000,
  };
}

/**
 * Mixed load on loopback: 20 concurrent STOW-RS clients sending 50 instances each (one per request,
 * 128x128 CT slices), 5 live event listeners and 3 zip downloads of an 8 MB result at once, against the
 * app on embedded PGlite. Reports zero-loss checks (index rows and files) and STOW latency percentiles.
 * Client and server share this process, so the figures include the client's own work.
 * Then `availability` (bench/availability.ts): /healthz latency of a server process while 5,000 tiny files are
 * uploaded in one request and while 200 half-open DIMSE and 200 slow HTTP connections are held.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../server/config/config.ts';
import { migrate } from '../server/db/migrate.ts';
import { openPgliteDatabase } from '../server/db/pgliteDatabase.ts';
import { createApp } from '../server/http/app.ts';
import { buildContext } from '../server/app/buildContext.ts';
import { silentLogger } from '../server/log.ts';
import { lostInstances, runLoad, seedResultForDownloads } from '../test/support/load.ts';
import { measureAvailability } from './availability.ts';

async function mixedLoad(): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-load-bench-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    AUTH: 'off',
    LOG_LEVEL: 'silent',
    MIN_FREE_DISK_MB: '0',
    SERIES_STABLE_SECONDS: '3600',
  });
  const db = await openPgliteDatabase(join(dataDir, 'pglite'));
  await migrate(db);
  const deps = buildContext({ config, db, logger: silentLogger() });
  const server = createServer(createApp(deps).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const zipFiles = await seedResultForDownloads(deps, 4);
    const report = await runLoad({
      url,
      clients: 20,
      instancesPerClient: 50,
      sseListeners: 5,
      zipDownloads: 3,
      zipFiles,
      matrix: 128,
    });
    const lost = await lostInstances(deps, report.acknowledgedSops);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances');
    const { acknowledgedSops: _, ...summary } = report;
    return { ...summary, indexRows: rows[0].n, lost: lost.length, lostExamples: lost.slice(0, 5) };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const mixed = await mixedLoad();
  return { ...mixed, availability: await measureAvailability() };
}

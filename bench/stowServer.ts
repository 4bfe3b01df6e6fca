/**
 * The gateway's HTTP server alone in a child process, for bench/stow.bench.ts: its RSS is then the
 * server's own, not the benchmark client's. Reports `{ port }` once listening and answers `rss` with the
 * baseline, the peak sampled since and the number of full garbage collections since.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../server/config/config.ts';
import { openDatabase } from '../server/db/open.ts';
import { migrate } from '../server/db/migrate.ts';
import { createApp } from '../server/http/app.ts';
import { buildContext } from '../server/app/buildContext.ts';
import { silentLogger } from '../server/log.ts';
import { tuneHeapGrowth } from '../server/heapTuning.ts';
import { majorGcCounter } from './support.ts';

tuneHeapGrowth(); // as `serve` does

const config = loadConfig({ ...process.env, AUTH: 'off', LOG_LEVEL: 'silent', MIN_FREE_DISK_MB: '0' });
const logger = silentLogger();
const db = await openDatabase(config, logger);
await migrate(db, logger);
const app = createApp(buildContext({ config, db, logger }));
const server = createServer(app.callback());
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
(globalThis as { gc?: () => void }).gc?.();
const baseline = process.memoryUsage.rss();
const gcs = majorGcCounter();
let peak = baseline;
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 10).unref();
process.on('message', (m) => {
  if (m === 'rss')
    process.send?.({
      baselineMb: baseline / 2 ** 20,
      peakMb: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20,
      majorGcs: gcs.count(),
    });
  if (m === 'stop') server.close(() => void db.close().then(() => process.exit(0)));
});
process.send?.({ port: (server.address() as AddressInfo).port });

/**
 * DIMSE C-STORE ingest of a generated 300-slice 512x512 CT series with DCMTK storescu as the sender:
 * one association, and four associations in parallel (the series split in four), instances/s, MB/s
 * and the receiving process's RSS. The receiver (SCP + embedded PGlite, as `serve` runs it) lives in
 * a child process so its RSS is its own. When Orthanc is installed it receives the same series from
 * the same sender in the same run (rounds alternating, as in stow.bench.ts); the target is 1.5x its
 * rate. Orthanc's figures on this kind of machine (performance.md): 211 instances/s with one
 * association, 359 with four (TCP_NODELAY).
 *
 * Each receiver, ours and Orthanc alike, gets two series of that shape one after the other and both are
 * timed: the first shows a freshly started server, the next one a server that has run (V8 has compiled
 * the hot JavaScript and PGlite's WebAssembly with its optimizing tier by then). Each timed series also
 * gives the receiver's CPU per instance and how busy the machine was, read alike for both receivers
 * (cpuWindow): with senders and receiver on the same two cores, it tells a CPU-bound run from a wait-bound one.
 *
 * storescu runs with TCP_NODELAY=1: Debian's DCMTK leaves Nagle on by default, and a sender with
 * Nagle on holds each C-STORE's data PDU until the receiver's delayed ACK (~40 ms), whatever the
 * receiver does; `senderWithNagle` measures that case on a few instances.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSyntheticCt, newUid, writeSyntheticDicomSeries } from '../test/support/syntheticCt.ts';
import { hasOrthanc, startOrthanc } from '../test/support/orthanc.ts';
import { alternating, cpuWindow, majorGcCounter, medianRound, round, roundRatios } from './support.ts';

const SLICES = Number(process.env.CSTORE_BENCH_SLICES ?? 300);
const ORTHANC = { oneAssociation: 211, fourAssociations: 359 };

function storescu(port: number, files: string[], nodelay = true, calledAet = 'ANATOMYGW'): Promise<number> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (nodelay) env.TCP_NODELAY = '1';
    else delete env.TCP_NODELAY;
    const child = spawn('storescu', ['-aet', 'BENCH', '-aec', calledAet, '127.0.0.1', String(port), ...files], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(code) : reject(new Error(`storescu exited ${code}: ${stderr.slice(-500)}`)),
    );
  });
}

interface ReceiverReport {
  baselineMb: number;
  peakMb: number;
  instances: number;
  majorGcs: number;
}

/** Each of `series` sent in turn to one receiver over `associations` associations, each timed. */
async function scenario(
  series: string[][],
  associations: number,
  opts: { nodelay?: boolean } = {},
): Promise<Array<Record<string, unknown>>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-cstore-bench-'));
  const child = fork(import.meta.filename, [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: {
      ...process.env,
      CSTORE_BENCH_RECEIVER: '1',
      DATA_DIR: dataDir,
      DATABASE_URL: process.env.BENCH_DATABASE_URL ?? '',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`receiver exited (${code})`)));
    });
    const results: Array<Record<string, unknown>> = [];
    let sent = 0;
    for (const files of series) {
      const groups = split(files, associations);
      const cpu = cpuWindow(child.pid);
      const t0 = process.hrtime.bigint();
      await Promise.all(groups.map((g) => storescu(port, g, opts.nodelay ?? true)));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cost = cpu.end(files.length);
      sent += files.length;
      child.send('report');
      const report = await new Promise<ReceiverReport>((resolve) =>
        child.once('message', (m) => resolve(m as ReceiverReport)),
      );
      let bytes = 0;
      for (const f of files) bytes += (await stat(f)).size;
      if (report.instances !== sent) throw new Error(`${report.instances} of ${sent} instances indexed`);
      results.push({
        associations,
        instances: files.length,
        seconds: round(seconds),
        instancesPerSecond: round(files.length / seconds, 1),
        mbPerSecond: round(bytes / 2 ** 20 / seconds, 1),
        receiverPeakRssMb: round(report.peakMb, 0),
        // Peak since start over the baseline: a later series' figure covers the earlier ones too.
        receiverRssGrowthMb: round(report.peakMb - report.baselineMb, 0),
        receiverMajorGcs: report.majorGcs,
        ...cost,
      });
    }
    return results;
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The same sender and series into a private Orthanc (fsync on, its default storage settings), with
 * TCP_NODELAY=1 for its DCMTK network layer as for ours: with Nagle on it manages about 21 instances/s.
 */
async function orthanc(series: string[][], associations: number): Promise<Array<Record<string, unknown>>> {
  const o = await startOrthanc({}, { env: { TCP_NODELAY: '1' } });
  try {
    const results: Array<Record<string, unknown>> = [];
    let sent = 0;
    for (const files of series) {
      const groups = split(files, associations);
      const cpu = cpuWindow(o.pid);
      const t0 = process.hrtime.bigint();
      await Promise.all(groups.map((g) => storescu(o.dicomPort, g, true, 'ORTHANC')));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cost = cpu.end(files.length);
      sent += files.length;
      const stats = (await (await fetch(`${o.url}/statistics`, { headers: o.headers })).json()) as {
        CountInstances: number;
      };
      if (stats.CountInstances !== sent) throw new Error(`Orthanc stored ${stats.CountInstances} of ${sent} instances`);
      results.push({
        associations,
        seconds: round(seconds),
        instancesPerSecond: round(files.length / seconds, 1),
        ...cost,
      });
    }
    return results;
  } finally {
    await o.stop();
  }
}

function split(files: string[], associations: number): string[][] {
  const groups: string[][] = Array.from({ length: associations }, () => []);
  files.forEach((f, i) => groups[Math.floor((i * associations) / files.length)].push(f));
  return groups;
}

/**
 * CSTORE_BENCH_ROUNDS rounds (default 3), ours and Orthanc back to back in alternating order so that load
 * from other processes drifts over both alike; figures are the median round, ratios the median of the
 * per-round ratios.
 */
export async function run(): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), 'ag-cstore-series-'));
  try {
    const volume = makeSyntheticCt({ dims: [512, 512, SLICES] });
    const series = [
      await writeSyntheticDicomSeries(join(work, 'first'), volume, { seriesUid: newUid() }),
      await writeSyntheticDicomSeries(join(work, 'next'), volume, { seriesUid: newUid() }),
    ];
    const rounds = Number(process.env.CSTORE_BENCH_ROUNDS ?? 3);
    const withOrthanc = hasOrthanc();
    const scenarios = ['oneAssociation', 'fourAssociations', 'oneAssociationNextSeries', 'fourAssociationsNextSeries'];
    const runs: Record<string, Array<Record<string, unknown>>> = {};
    for (const name of scenarios) {
      runs[`ours.${name}`] = [];
      runs[`orthanc.${name}`] = [];
    }
    const keep = (
      who: 'ours' | 'orthanc',
      associations: number,
      [first, next]: Array<Record<string, unknown>>,
    ): void => {
      const name = associations === 1 ? 'oneAssociation' : 'fourAssociations';
      runs[`${who}.${name}`].push(first);
      runs[`${who}.${name}NextSeries`].push(next);
    };
    for (let i = 0; i < rounds; i++) {
      for (const associations of [1, 4]) {
        const ours = async () => keep('ours', associations, await scenario(series, associations));
        const theirs = async () => {
          if (withOrthanc) keep('orthanc', associations, await orthanc(series, associations));
        };
        await alternating(i, ours, theirs);
      }
    }
    const [nagle] = await scenario([series[0].slice(0, 40)], 1, { nodelay: false });
    const result: Record<string, unknown> = {
      series: `${SLICES} x 512x512 int16, explicit VR little endian`,
      rounds,
      database: process.env.BENCH_DATABASE_URL ? 'postgresql' : 'pglite',
    };
    for (const name of scenarios) result[name] = medianRound(runs[`ours.${name}`]);
    result.senderWithNagle = nagle;
    result.orthancReference = ORTHANC;
    if (withOrthanc) {
      const speedups: Record<string, number> = {};
      const speedupRounds: Record<string, number[]> = {};
      for (const name of scenarios) {
        result[`orthanc${name.charAt(0).toUpperCase()}${name.slice(1)}`] = medianRound(runs[`orthanc.${name}`]);
        const ratios = roundRatios(runs[`ours.${name}`], runs[`orthanc.${name}`]);
        speedups[name] = ratios.median;
        speedupRounds[name] = ratios.rounds;
      }
      Object.assign(result, {
        speedupOneAssociation: speedups.oneAssociation,
        speedupFourAssociations: speedups.fourAssociations,
        speedupNextSeries: {
          oneAssociation: speedups.oneAssociationNextSeries,
          fourAssociations: speedups.fourAssociationsNextSeries,
        },
        speedupRounds,
      });
    } else {
      result.orthanc = 'not installed (Debian: orthanc); ratios to its reference figures instead';
      result.vsOrthancReference = {
        oneAssociation: round(
          (result.oneAssociation as Record<string, number>).instancesPerSecond / ORTHANC.oneAssociation,
        ),
        fourAssociations: round(
          (result.fourAssociations as Record<string, number>).instancesPerSecond / ORTHANC.fourAssociations,
        ),
      };
    }
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The receiving side: the SCP with the ingest pipeline and database `serve` would use. */
async function receiver(): Promise<void> {
  const { loadConfig } = await import('../server/config/config.ts');
  const { openDatabase } = await import('../server/db/open.ts');
  const { migrate } = await import('../server/db/migrate.ts');
  const { buildContext } = await import('../server/app/buildContext.ts');
  const { silentLogger } = await import('../server/log.ts');
  const { startDimseServer } = await import('../server/dimse/scp.ts');
  const { tuneHeapGrowth } = await import('../server/heapTuning.ts');
  tuneHeapGrowth(); // as `serve` does
  const config = loadConfig({ ...process.env, AUTH: 'off', LOG_LEVEL: 'silent', MIN_FREE_DISK_MB: '0' });
  const logger = silentLogger();
  const db = await openDatabase(config, logger);
  await migrate(db, logger);
  // A reused Postgres database keeps earlier runs' rows (same SOP UIDs, upserted): count this run's.
  const since = (await db.query<{ t: string }>('SELECT now()::text AS t')).rows[0].t;
  const server = await startDimseServer(buildContext({ config, db, logger }), { port: 0 });
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  const gcs = majorGcCounter();
  let peak = baseline;
  setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10).unref();
  process.on('message', (m) => {
    if (m === 'report') {
      void db
        .query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances WHERE received_at >= $1::timestamptz', [
          since,
        ])
        .then((r) => {
          process.send?.({
            baselineMb: baseline / 2 ** 20,
            peakMb: Math.max(peak, process.memoryUsage.rss()) / 2 ** 20,
            instances: r.rows[0].n,
            majorGcs: gcs.count(),
          });
        });
    }
    if (m === 'stop')
      void server
        .close()
        .then(() => db.close())
        .then(() => process.exit(0));
  });
  process.send?.({ port: server.port });
}

if (process.env.CSTORE_BENCH_RECEIVER) await receiver();

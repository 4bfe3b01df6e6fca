/**
 * STOW-RS ingest of a 300-slice 512x512 CT series: one request and 4 parallel requests, instances/s, MB/s
 * and the server's RSS growth; the same against Orthanc (fsync on, its default) when it is installed.
 * Orthanc's published figures: 179 instances/s in one request, 467 with 4 in parallel; target 1.5x the
 * Orthanc rate measured in the same run, RSS growth under 150 MB.
 *
 * Each server, ours and Orthanc alike, receives two series of that shape one after the other and both are
 * timed: the first shows a freshly started server, the next one a server that has run (V8 has compiled
 * the hot JavaScript and PGlite's WebAssembly with its optimizing tier by then; a cold start costs the
 * first series a large share of its CPU). Each timed series also gives the server's CPU per instance and
 * how busy the machine was, read alike for ours and Orthanc (cpuWindow in support.ts).
 */
import { fork } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../test/support/syntheticCt.ts';
import { hasOrthanc, startOrthanc } from '../test/support/orthanc.ts';
import { alternating, cpuWindow, medianRound, round, roundRatios } from './support.ts';

const SLICES = Number(process.env.STOW_BENCH_SLICES ?? 300);

/** Streams parts as a chunked multipart/related request, honouring backpressure. */
async function stow(url: string, parts: Buffer[]): Promise<number> {
  const boundary = `bench-${newUid()}`;
  return await new Promise<number>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          Accept: 'application/dicom+json',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const p of parts) {
        const ok = req.write(
          Buffer.concat([
            Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
            p,
            Buffer.from('\r\n'),
          ]),
        );
        if (!ok) await new Promise((r) => req.once('drain', r));
      }
      req.end(`--${boundary}--\r\n`);
    })();
  });
}

async function timed(url: string, parts: Buffer[], parallel: number): Promise<{ seconds: number; statuses: number[] }> {
  const groups: Buffer[][] = Array.from({ length: parallel }, () => []);
  parts.forEach((p, i) => groups[Math.floor((i * parallel) / parts.length)].push(p));
  const t0 = process.hrtime.bigint();
  const statuses = await Promise.all(groups.map((g) => stow(url, g)));
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, statuses };
}

interface SeriesPair {
  first: Record<string, unknown>;
  next: Record<string, unknown>;
}

async function gateway(series: () => Buffer[], parallel: number): Promise<SeriesPair> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-stow-bench-'));
  const child = fork(join(import.meta.dirname, 'stowServer.ts'), [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: process.env.BENCH_DATABASE_URL ?? '' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { port: number }).port));
      child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const url = `http://127.0.0.1:${port}/dicomweb/studies`;
    const one = async (): Promise<Record<string, unknown>> => {
      const parts = series();
      const cpu = cpuWindow(child.pid);
      const { seconds, statuses } = await timed(url, parts, parallel);
      const cost = cpu.end(parts.length);
      child.send('rss');
      type Report = { baselineMb: number; peakMb: number; majorGcs: number };
      const rss = await new Promise<Report>((resolve) => child.once('message', (m) => resolve(m as Report)));
      const mb = parts.reduce((s, p) => s + p.length, 0) / 2 ** 20;
      return {
        statuses,
        seconds: round(seconds),
        instancesPerSecond: round(parts.length / seconds, 1),
        mbPerSecond: round(mb / seconds, 1),
        serverRssBaselineMb: round(rss.baselineMb, 0),
        // Peak since start over the baseline: the next series' figure covers both series.
        serverRssGrowthMb: round(rss.peakMb - rss.baselineMb, 0),
        serverMajorGcs: rss.majorGcs,
        ...cost,
      };
    };
    const first = await one();
    return { first, next: await one() };
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function orthanc(series: () => Buffer[], parallel: number): Promise<SeriesPair> {
  const o = await startOrthanc();
  try {
    const one = async (): Promise<Record<string, unknown>> => {
      const parts = series();
      const cpu = cpuWindow(o.pid);
      const { seconds, statuses } = await timed(`${o.url}/dicom-web/studies`, parts, parallel);
      return {
        statuses,
        seconds: round(seconds),
        instancesPerSecond: round(parts.length / seconds, 1),
        ...cpu.end(parts.length),
      };
    };
    const first = await one();
    return { first, next: await one() };
  } finally {
    await o.stop();
  }
}

/**
 * STOW_BENCH_ROUNDS rounds (default 3), each running ours and Orthanc back to back in alternating order, so
 * load from other processes on a shared machine drifts over both alike; each figure is the median round.
 */
export async function run(): Promise<Record<string, unknown>> {
  const volume = makeSyntheticCt({ dims: [512, 512, SLICES], seed: 42 });
  const series = () => syntheticDicomSliceBuffers(volume, { studyUid: newUid(), seriesUid: newUid() });
  const rounds = Number(process.env.STOW_BENCH_ROUNDS ?? 3);
  const withOrthanc = hasOrthanc();
  const result: Record<string, unknown> = {
    slices: SLICES,
    sliceBytes: 0,
    fsync: true,
    rounds,
    database: process.env.BENCH_DATABASE_URL ? 'postgresql' : 'pglite',
  };
  const scenarios = ['OneRequest', 'FourParallel', 'OneRequestNextSeries', 'FourParallelNextSeries'];
  const runs: Record<string, Array<Record<string, unknown>>> = {};
  for (const name of scenarios) {
    runs[`gateway${name}`] = [];
    runs[`orthanc${name}`] = [];
  }
  const keep = (who: 'gateway' | 'orthanc', name: string, pair: SeriesPair): void => {
    runs[`${who}${name}`].push(pair.first);
    runs[`${who}${name}NextSeries`].push(pair.next);
  };
  for (let i = 0; i < rounds; i++) {
    for (const parallel of [1, 4]) {
      const name = parallel === 1 ? 'OneRequest' : 'FourParallel';
      const ours = async () => keep('gateway', name, await gateway(series, parallel));
      const theirs = async () => {
        if (withOrthanc) keep('orthanc', name, await orthanc(series, parallel));
      };
      await alternating(i, ours, theirs);
    }
  }
  result.sliceBytes = series()[0].length;
  for (const name of scenarios) result[`gateway${name}`] = medianRound(runs[`gateway${name}`]);
  if (withOrthanc) {
    const speedups: Record<string, number> = {};
    const speedupRounds: Record<string, number[]> = {};
    for (const name of scenarios) {
      result[`orthanc${name}`] = medianRound(runs[`orthanc${name}`]);
      // Ratios per round (ours / Orthanc's of the same round), then their median.
      const ratios = roundRatios(runs[`gateway${name}`], runs[`orthanc${name}`]);
      const key = name.charAt(0).toLowerCase() + name.slice(1);
      speedups[key] = ratios.median;
      speedupRounds[key] = ratios.rounds;
    }
    result.speedupOneRequest = speedups.oneRequest;
    result.speedupFourParallel = speedups.fourParallel;
    result.speedupNextSeries = {
      oneRequest: speedups.oneRequestNextSeries,
      fourParallel: speedups.fourParallelNextSeries,
    };
    result.speedupRounds = speedupRounds;
  } else {
    result.orthanc = 'not installed (Debian: orthanc orthanc-dicomweb)';
  }
  return result;
}

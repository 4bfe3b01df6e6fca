import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppContext } from '../../server/app/context.ts';
import { recordResult } from '../../server/results/resultsStore.ts';
import { resultFileUrl } from '../../server/downloads/resultFiles.ts';
import { fetchBody, multipartRelated } from './dicomweb.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from './syntheticCt.ts';

/**
 * Mixed load on one server, shared by the load test (small) and bench/load.bench.ts (full size):
 * concurrent STOW-RS clients (one instance per request, as a modality forwarding images does), live
 * event listeners and zip downloads at the same time. Then every acknowledged instance is looked for
 * in the index and on disk.
 */

export interface LoadOptions {
  url: string;
  clients: number;
  instancesPerClient: number;
  sseListeners: number;
  zipDownloads: number;
  /** Addresses of result files to put in each zip download. */
  zipFiles: string[];
  /** Image size of each generated instance (square). */
  matrix?: number;
}

export interface LoadReport {
  instancesSent: number;
  acknowledged: number;
  statuses: Record<string, number>;
  serverErrors: number;
  dropped: number;
  stowLatencyMs: { p50: number; p99: number; max: number };
  seconds: number;
  instancesPerSecond: number;
  sse: { listeners: number; connected: number; events: number };
  zips: { downloads: number; ok: number; bytes: number };
  acknowledgedSops: Array<{ study: string; series: string; sop: string }>;
}

const BOUNDARY = 'load-boundary-0d9e';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A result with two files of `mb` MB each, recorded directly, for zip downloads. Returns the files' addresses. */
export async function seedResultForDownloads(
  deps: Pick<AppContext, 'config' | 'db' | 'queue'>,
  mb = 4,
): Promise<string[]> {
  const job = await deps.queue.add('process', {
    name: 'load',
    input: { kind: 'volume-file', file: 'volumes/load.nii' },
  });
  const id = '5eed0000-0000-4000-8000-00000000a11d';
  const dir = join(deps.config.dataDir, 'results', id);
  await mkdir(dir, { recursive: true });
  const files: Array<{ name: string; size: number }> = [];
  for (const name of ['load.glb', 'load_seg.nii.gz']) {
    await writeFile(join(dir, name), randomBytes(mb * 1024 * 1024));
    files.push({ name, size: (await stat(join(dir, name))).size });
  }
  await recordResult(deps.db, {
    id,
    jobId: job.id,
    name: 'load',
    engine: 'builtin',
    source: {},
    segments: [],
    files,
    retentionDays: 1,
  });
  return files.map((f) => resultFileUrl(id, f.name));
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const acknowledgedSops: LoadReport['acknowledgedSops'] = [];
  let dropped = 0;
  const matrix = o.matrix ?? 64;

  // Listeners first, so they see the whole run.
  const sseAbort = new AbortController();
  const sse = { listeners: o.sseListeners, connected: 0, events: 0 };
  const listeners = Array.from({ length: o.sseListeners }, async () => {
    try {
      const res = await fetch(`${o.url}/api/events`, {
        signal: sseAbort.signal,
        headers: { Accept: 'text/event-stream' },
      });
      if (res.status !== 200 || !res.body) return;
      sse.connected += 1;
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        sse.events += (decoder.decode(r.value, { stream: true }).match(/^data:/gm) ?? []).length;
      }
    } catch {
      // aborted at the end
    }
  });

  const started = performance.now();
  const clients = Array.from({ length: o.clients }, async (_, c) => {
    const study = newUid();
    const series = newUid();
    const ct = makeSyntheticCt({
      dims: [matrix, matrix, o.instancesPerClient],
      spacing: [2, 2, 2],
      seed: 100 + c,
      noise: 4,
    });
    const slices = syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: series });
    for (const [k, slice] of slices.entries()) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${o.url}/dicomweb/studies`, {
          method: 'POST',
          headers: {
            'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
            Accept: 'application/dicom+json',
          },
          body: fetchBody(multipartRelated([slice], BOUNDARY)),
        });
        await res.arrayBuffer();
        latencies.push(performance.now() - t0);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 200) acknowledgedSops.push({ study, series, sop: `${series}.${k + 1}` });
      } catch {
        dropped += 1;
      }
    }
  });

  const zips = { downloads: o.zipDownloads, ok: 0, bytes: 0 };
  const downloads = Array.from({ length: o.zipDownloads }, async () => {
    try {
      const link = await fetch(`${o.url}/api/downloads`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ files: o.zipFiles }),
      });
      if (link.status >= 500) statuses[link.status] = (statuses[link.status] ?? 0) + 1;
      if (link.status !== 200) return;
      const { url } = (await link.json()) as { url: string };
      const res = await fetch(`${o.url}${new URL(url).pathname}/zip`);
      if (res.status >= 500) statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      const bytes = (await res.arrayBuffer()).byteLength;
      if (res.status === 200 && bytes > 0) {
        zips.ok += 1;
        zips.bytes += bytes;
      }
    } catch {
      dropped += 1;
    }
  });

  await Promise.all([...clients, ...downloads]);
  const seconds = (performance.now() - started) / 1000;
  sseAbort.abort();
  await Promise.all(listeners);
  latencies.sort((a, b) => a - b);
  const instancesSent = o.clients * o.instancesPerClient;
  const round = (n: number): number => Math.round(n * 10) / 10;
  return {
    instancesSent,
    acknowledged: acknowledgedSops.length,
    statuses,
    serverErrors: Object.entries(statuses)
      .filter(([s]) => Number(s) >= 500)
      .reduce((n, [, v]) => n + v, 0),
    dropped,
    stowLatencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1) ?? 0),
    },
    seconds: round(seconds),
    instancesPerSecond: round(instancesSent / seconds),
    sse,
    zips,
    acknowledgedSops,
  };
}

/** Acknowledged instances missing from the index or from disk. */
export async function lostInstances(
  deps: Pick<AppContext, 'config' | 'db'>,
  acknowledged: LoadReport['acknowledgedSops'],
): Promise<string[]> {
  const { rows } = await deps.db.query<{ sop_instance_uid: string; path: string }>(
    'SELECT sop_instance_uid, path FROM dicom_instances WHERE sop_instance_uid = ANY($1::text[])',
    [acknowledged.map((a) => a.sop)],
  );
  const indexed = new Map(rows.map((r) => [r.sop_instance_uid, r.path]));
  const lost: string[] = [];
  for (const a of acknowledged) {
    const path = indexed.get(a.sop);
    if (!path) {
      lost.push(`${a.sop}: no index row`);
      continue;
    }
    try {
      await stat(join(deps.config.dataDir, path));
    } catch {
      lost.push(`${a.sop}: no file`);
    }
  }
  return lost;
}

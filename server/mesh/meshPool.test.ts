import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { labelStats } from './labelStats.ts';
import { unmatchedEdges } from './meshOps.ts';
import {
  closeMeshThreads,
  defaultMeshThreads,
  meshThreadCounts,
  openMeshBatch,
  prepareMeshThreads,
} from './meshPool.ts';
import type { MeshedSegment, MeshGeometry, MeshJob, MeshSettings } from './meshSegment.ts';
import type { LabelArray } from '../volume/volume.ts';

/** `jobs` meshed in one batch; `onDone` is told each job's index as it finishes. */
async function meshAll(
  data: LabelArray,
  geometry: MeshGeometry,
  jobs: MeshJob[],
  settings: MeshSettings,
  options: { threads: number; signal?: AbortSignal; onDone?: (index: number) => void },
): Promise<{ meshes: MeshedSegment[]; threads: number }> {
  const batch = openMeshBatch(data, geometry, settings, options);
  try {
    const meshes = await Promise.all(
      batch.add(jobs).map(async (meshed, i) => {
        const mesh = await meshed;
        options.onDone?.(i);
        return mesh;
      }),
    );
    return { meshes, threads: batch.threads };
  } finally {
    await batch.close();
  }
}
import { ellipsoidLabelMap } from './testShapes.ts';

test('worker threads give the same meshes as meshing in this thread, in job order', async () => {
  const map = ellipsoidLabelMap({
    dims: [70, 60, 50],
    spacing: [0.9, 1.1, 2],
    direction: [0, 1, 0, -1, 0, 0, 0, 0, 1],
    origin: [10, -20, 30],
    shapes: [
      { label: 1, center: [35, 30, 25], radii: [30, 24, 36] },
      { label: 2, center: [25, 30, 25], radii: [8, 12, 10] },
      { label: 3, center: [48, 28, 20], radii: [6, 6, 14] },
    ],
  });
  const stats = labelStats(map);
  const box = (labels: number[]): MeshJob => {
    const s = labels.map((l) => stats.get(l)).filter((b) => b !== undefined);
    return {
      labels,
      box: {
        min: [0, 1, 2].map((k) => Math.min(...s.map((b) => b.min[k]))) as MeshJob['box']['min'],
        max: [0, 1, 2].map((k) => Math.max(...s.map((b) => b.max[k]))) as MeshJob['box']['max'],
      },
      voxels: s.reduce((a, b) => a + b.voxels, 0),
    };
  };
  // Small jobs first, so with two threads they finish out of order.
  const jobs = [box([3]), box([2]), box([1, 2, 3])];
  const settings = { reduction: 0.5, smoothingIterations: 10 };
  const serial = await meshAll(map.data, map, jobs, settings, { threads: 1 });
  const finished: number[] = [];
  const parallel = await meshAll(map.data, map, jobs, settings, { threads: 2, onDone: (i) => void finished.push(i) });
  assert.equal(serial.threads, 1);
  assert.equal(parallel.threads, 2, 'meshed in worker threads');
  assert.deepEqual([...finished].sort(), [0, 1, 2]);
  for (let i = 0; i < jobs.length; i++) {
    const a = serial.meshes[i];
    const b = parallel.meshes[i];
    assert.ok(a.triangles > 100);
    assert.deepEqual(b.indices, a.indices, `job ${i}: same triangles`);
    assert.deepEqual(b.positions, a.positions, `job ${i}: same vertices`);
    assert.deepEqual(b.normals, a.normals);
    assert.equal(b.meshVolumeMm3, a.meshVolumeMm3);
    assert.equal(unmatchedEdges(b), 0, 'closed');
  }
});

/** A mesh job for each of `labels`, boxed by labelStats. */
function oneJobPerLabel(map: ReturnType<typeof ellipsoidLabelMap>, labels: number[]): MeshJob[] {
  const stats = labelStats(map);
  return labels.map((l) => {
    const s = stats.get(l);
    assert.ok(s);
    return { labels: [l], box: { min: s.min, max: s.max }, voxels: s.voxels };
  });
}

test('meshing in worker threads stops when aborted', async () => {
  const map = ellipsoidLabelMap({
    dims: [60, 60, 60],
    shapes: [
      { label: 1, center: [30, 30, 30], radii: [25, 25, 25] },
      { label: 2, center: [30, 30, 30], radii: [10, 10, 10] },
    ],
  });
  const jobs = oneJobPerLabel(map, [1, 2]);
  const controller = new AbortController();
  const run = meshAll(
    map.data,
    map,
    jobs,
    { reduction: 0.5, smoothingIterations: 20 },
    { threads: 2, signal: controller.signal },
  );
  controller.abort(new Error('cancelled by user'));
  await assert.rejects(run, /cancelled by user/);
});

/** A ball holding a smaller one, a job per label, and their meshes made in this thread. */
async function ballInBall(): Promise<{
  map: ReturnType<typeof ellipsoidLabelMap>;
  jobs: MeshJob[];
  settings: MeshSettings;
  serial: { meshes: MeshedSegment[] };
}> {
  const map = ellipsoidLabelMap({
    dims: [50, 50, 40],
    shapes: [
      { label: 1, center: [25, 25, 20], radii: [20, 18, 15] },
      { label: 2, center: [20, 25, 20], radii: [6, 6, 6] },
    ],
  });
  const jobs = oneJobPerLabel(map, [1, 2]);
  const settings = { reduction: 0.5, smoothingIterations: 5 };
  return { map, jobs, settings, serial: await meshAll(map.data, map, jobs, settings, { threads: 1 }) };
}

test('threads started ahead of a job mesh it and wait for the next one, and waiting threads can be ended', async () => {
  await closeMeshThreads();
  const { map, jobs, settings, serial } = await ballInBall();
  const cores = defaultMeshThreads();
  const before = meshThreadCounts().started;
  // Small volumes are meshed in the calling thread: nothing is started for them.
  prepareMeshThreads(1000);
  assert.deepEqual(meshThreadCounts(), { waiting: 0, started: before });
  prepareMeshThreads(1e9);
  prepareMeshThreads(1e9);
  assert.deepEqual(
    meshThreadCounts(),
    { waiting: cores, started: before + cores },
    'one thread per core, not more for a second call',
  );
  for (let round = 0; round < 2; round++) {
    const prepared = await meshAll(map.data, map, jobs, settings, { threads: 2 });
    assert.equal(prepared.threads, 2);
    for (let i = 0; i < jobs.length; i++)
      assert.deepEqual(prepared.meshes[i].indices, serial.meshes[i].indices, `round ${round}, job ${i}`);
    assert.deepEqual(
      meshThreadCounts(),
      { waiting: cores, started: before + cores },
      'the same threads mesh job after job',
    );
  }
  await closeMeshThreads();
  assert.equal(meshThreadCounts().waiting, 0);
});

test('when no mesh thread can start (Node run with its permission model, without --allow-worker), the jobs are meshed in this thread', async () => {
  const { map, jobs, settings, serial } = await ballInBall();
  const dir = await mkdtemp(join(tmpdir(), 'mesh-pool-'));
  try {
    // Bundled, the batch beside its worker script (meshWorker.js), as tsx itself needs a thread to load.
    const options = { bundle: true, platform: 'node', logLevel: 'silent' } as const;
    await build({
      ...options,
      entryPoints: [join(import.meta.dirname, 'meshWorker.ts')],
      format: 'cjs',
      outfile: join(dir, 'meshWorker.js'),
    });
    await build({
      ...options,
      stdin: {
        contents: `
          import { openMeshBatch } from './meshPool.ts';
          const { map, jobs, settings } = ${JSON.stringify({ map: { ...map, data: [...map.data] }, jobs, settings })};
          const batch = openMeshBatch(Uint8Array.from(map.data), map, settings, { threads: 2 });
          const meshes = await Promise.all(batch.add(jobs));
          await batch.close();
          console.log(JSON.stringify({ threads: batch.threads, meshes: meshes.map((m) => ({ triangles: m.triangles, volume: m.meshVolumeMm3 })) }));
        `,
        resolveDir: import.meta.dirname,
        loader: 'ts',
      },
      format: 'esm',
      outfile: join(dir, 'mesh.mjs'),
    });
    const run = async (flags: string[]): Promise<{ threads: number; meshes: unknown }> =>
      JSON.parse((await promisify(execFile)(process.execPath, [...flags, join(dir, 'mesh.mjs')])).stdout);
    const expected = serial.meshes.map((m) => ({ triangles: m.triangles, volume: m.meshVolumeMm3 }));
    assert.deepEqual(await run([]), { threads: 2, meshes: expected }, 'threads start where they may');
    assert.deepEqual(
      await run(['--experimental-permission', `--allow-fs-read=${dir}`]),
      { threads: 1, meshes: expected },
      'meshed in the calling thread, with the same meshes',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

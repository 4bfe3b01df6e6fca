import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabelMap } from '../volume/volume.ts';
import { exportModels, type ExportSegment } from './exportModels.ts';
import { closeMeshThreads } from './meshPool.ts';
import { StartedMeshes } from './startedMeshes.ts';
import { ellipsoidLabelMap } from './testShapes.ts';

const SETTINGS = { reduction: 0.5, smoothingIterations: 10 };

const SEGMENTS: ExportSegment[] = [
  { label: 1, name: 'body', color: [0.7, 0.5, 0.4], opacity: 0.3, containsLabels: [2, 3] },
  { label: 2, name: 'lungs', color: [0.8, 0.6, 0.6] },
  { label: 3, name: 'bone', color: [0.9, 0.8, 0.6] },
];

/** A body (1) holding a lung (2) and a bone (3), as a label map in shared memory or not. */
function finishedMap(shared: boolean): LabelMap {
  const map = ellipsoidLabelMap({
    dims: [60, 50, 40],
    spacing: [1, 1, 1.5],
    shapes: [
      { label: 1, center: [30, 25, 20], radii: [26, 20, 25] },
      { label: 2, center: [22, 25, 22], radii: [8, 9, 12] },
      { label: 3, center: [40, 25, 18], radii: [4, 4, 20] },
    ],
  });
  if (!shared) return map;
  const data = new Uint8Array(new SharedArrayBuffer(map.data.length));
  data.set(map.data);
  return { ...map, data };
}

/** The same map as an engine has it once the body is outlined: lung and bone still body. */
function outlinedCopy(finished: LabelMap, into: LabelMap['data']): void {
  for (let i = 0; i < into.length; i++) into[i] = finished.data[i] === 0 ? 0 : 1;
}

async function exported(map: LabelMap, started?: StartedMeshes) {
  const dir = await mkdtemp(join(tmpdir(), 'started-meshes-'));
  try {
    return await exportModels({
      labelMap: map,
      segments: SEGMENTS,
      outDir: dir,
      name: 'case',
      reduction: SETTINGS.reduction,
      smoothingIterations: SETTINGS.smoothingIterations,
      threads: 2,
      started,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a body started while the rest is segmented gives the same models as one meshed at the end', async () => {
  const finished = finishedMap(true);
  const reference = await exported(finishedMap(false));
  const engineMap = finishedMap(true);
  outlinedCopy(finished, engineMap.data);
  const started = new StartedMeshes(SETTINGS, { threads: 2 });
  try {
    started.start(engineMap, SEGMENTS[0]);
    // The engine goes on: lung and bone are painted over body voxels only.
    engineMap.data.set(finished.data);
    const result = await exported(engineMap, started);
    assert.deepEqual(started.used, [1], "the started body's mesh was used");
    assert.deepEqual(started.changed, []);
    assert.deepEqual(result.segments, reference.segments);
  } finally {
    await started.close();
  }
});

test('a structure whose voxels changed after it was started is meshed again from the finished map', async () => {
  const finished = finishedMap(true);
  const reference = await exported(finishedMap(false));
  const engineMap = finishedMap(true);
  const started = new StartedMeshes(SETTINGS, { threads: 2 });
  try {
    // Started on a body that later grows: an engine breaking its word.
    const smaller = ellipsoidLabelMap({
      dims: engineMap.dims,
      spacing: engineMap.spacing,
      shapes: [{ label: 1, center: [30, 25, 20], radii: [20, 16, 20] }],
    });
    engineMap.data.set(smaller.data);
    started.start(engineMap, SEGMENTS[0]);
    engineMap.data.set(finished.data);
    const result = await exported(engineMap, started);
    assert.deepEqual(started.used, []);
    assert.deepEqual(started.changed, [1]);
    assert.deepEqual(result.segments, reference.segments);
  } finally {
    await started.close();
  }
});

test('nothing starts early for a label map a mesh thread could only read as a copy', async () => {
  const map = finishedMap(false);
  const started = new StartedMeshes(SETTINGS, { threads: 2 });
  started.start(map, SEGMENTS[0]);
  assert.equal(started.batchFor(map.data, SETTINGS), undefined);
  const result = await exported(map, started);
  assert.deepEqual(started.used, []);
  assert.equal(result.segments.length, 3);
  await started.close();
  await closeMeshThreads();
});

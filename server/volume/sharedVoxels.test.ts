import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseVoxels } from './releaseVoxels.ts';
import {
  dropSharedBuffers,
  keptSharedBuffers,
  MIN_SHARED_BYTES,
  sharedLabels,
  takeSharedBuffer,
} from './sharedVoxels.ts';
import { IDENTITY_DIRECTION, type Volume, type VoxelArray } from './volume.ts';

const volumeOf = (data: VoxelArray): Volume => ({
  dims: [data.length, 1, 1],
  spacing: [1, 1, 1],
  origin: [0, 0, 0],
  direction: [...IDENTITY_DIRECTION],
  data,
});

test('a released volume-sized buffer serves the next job, which cannot read the old voxels through the old volume', async () => {
  dropSharedBuffers();
  const bytes = MIN_SHARED_BYTES * 2;
  const first = takeSharedBuffer(bytes);
  assert.ok(first instanceof SharedArrayBuffer);
  const ct = volumeOf(new Int16Array(first, 0, bytes / 2).fill(-1000));
  await releaseVoxels(ct);
  assert.equal(ct.data.length, 0, 'the released volume is left empty');
  assert.ok(ct.data instanceof Int16Array);
  assert.equal(keptSharedBuffers(), 1);

  // A smaller label map takes the kept buffer, zeroed.
  const labels = sharedLabels(MIN_SHARED_BYTES + 1);
  assert.equal(labels.buffer, first, 'the same memory again');
  assert.equal(keptSharedBuffers(), 0);
  assert.ok(
    labels.every((l) => l === 0),
    'labels start zeroed',
  );
  const map = volumeOf(labels);
  await releaseVoxels(map);
  await releaseVoxels(map);
  assert.equal(keptSharedBuffers(), 1, 'released twice, kept once');
  dropSharedBuffers();
  assert.equal(keptSharedBuffers(), 0);
});

test('small volumes get ordinary memory, and only buffers handed out are taken back', async () => {
  dropSharedBuffers();
  assert.equal(takeSharedBuffer(MIN_SHARED_BYTES - 1), null);
  const small = sharedLabels(1000);
  assert.ok(small.buffer instanceof ArrayBuffer);
  const foreign = new Uint8Array(new SharedArrayBuffer(MIN_SHARED_BYTES));
  await releaseVoxels(volumeOf(foreign));
  assert.equal(foreign.length, MIN_SHARED_BYTES, 'shared memory from elsewhere is left alone');
  assert.equal(keptSharedBuffers(), 0);
});

test('at most two buffers are kept, the biggest', async () => {
  dropSharedBuffers();
  const sizes = [1, 3, 2].map((k) => k * MIN_SHARED_BYTES);
  const taken = sizes.map((b) => takeSharedBuffer(b));
  for (const b of taken) await releaseVoxels(volumeOf(new Uint8Array(b as SharedArrayBuffer)));
  assert.equal(keptSharedBuffers(), 2);
  assert.equal(takeSharedBuffer(MIN_SHARED_BYTES)?.byteLength, 2 * MIN_SHARED_BYTES, 'the smallest that fits');
  assert.equal(takeSharedBuffer(MIN_SHARED_BYTES)?.byteLength, 3 * MIN_SHARED_BYTES);
  assert.equal(keptSharedBuffers(), 0);
  dropSharedBuffers();
});

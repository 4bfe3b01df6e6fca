import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseVoxels } from './releaseVoxels.ts';
import { dropSharedBuffers, keptSharedBuffers, MIN_SHARED_BYTES, sharedLabels } from './sharedVoxels.ts';
import { voxelRow } from '../../test/support/volumes.ts';

test("a released label map's shared buffer serves the next job zeroed, and the old label map reads nothing", async () => {
  dropSharedBuffers();
  const first = sharedLabels(MIN_SHARED_BYTES * 2).fill(3);
  assert.ok(first.buffer instanceof SharedArrayBuffer, 'the mesh threads can read it in place');
  const map = voxelRow(first);
  await releaseVoxels(map);
  assert.equal(map.data.length, 0, 'the released label map is left empty');
  assert.ok(map.data instanceof Uint8Array);
  assert.equal(keptSharedBuffers(), 1);

  const next = sharedLabels(MIN_SHARED_BYTES + 1);
  assert.equal(next.buffer, first.buffer, 'the same memory again');
  assert.equal(keptSharedBuffers(), 0);
  assert.ok(
    next.every((l) => l === 0),
    'no label of the earlier job shows',
  );
  const nextMap = voxelRow(next);
  await releaseVoxels(nextMap);
  await releaseVoxels(nextMap);
  assert.equal(keptSharedBuffers(), 1, 'released twice, kept once');
  assert.ok(sharedLabels(MIN_SHARED_BYTES * 3).buffer !== first.buffer, 'too small for a bigger label map');
  dropSharedBuffers();
  assert.equal(keptSharedBuffers(), 0);
});

test('small label maps get ordinary memory, and only buffers handed out are taken back', async () => {
  dropSharedBuffers();
  const small = sharedLabels(1000);
  assert.ok(small.buffer instanceof ArrayBuffer);
  assert.equal(small.length, 1000);
  const foreign = new Uint8Array(new SharedArrayBuffer(MIN_SHARED_BYTES));
  await releaseVoxels(voxelRow(foreign));
  assert.equal(foreign.length, MIN_SHARED_BYTES, 'shared memory from elsewhere is left alone');
  assert.equal(keptSharedBuffers(), 0);
});

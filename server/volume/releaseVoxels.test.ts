import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseVoxels } from './releaseVoxels.ts';
import { IDENTITY_DIRECTION, type Volume, type VoxelArray } from './volume.ts';

const volumeOf = (data: VoxelArray): Volume => ({
  dims: [data.length, 1, 1],
  spacing: [1, 1, 1],
  origin: [0, 0, 0],
  direction: [...IDENTITY_DIRECTION],
  data,
});

test('releasing a volume frees its voxel memory at once', async () => {
  const mb = 256;
  const rss = (): number => process.memoryUsage.rss() / 2 ** 20;
  const volume = volumeOf(new Int16Array((mb * 2 ** 20) / 2).fill(7));
  const before = rss();
  await releaseVoxels(volume);
  assert.equal(volume.data.length, 0, 'the voxels are gone from the volume');
  assert.ok(
    before - rss() > mb * 0.9,
    `RSS fell by ${(before - rss()).toFixed(0)} MB of ${mb} MB, without a garbage collection`,
  );
});

test('voxels sharing their buffer are left alone', async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(16)).fill(1);
  await releaseVoxels(volumeOf(shared));
  assert.equal(shared.length, 16);
  const whole = new Int16Array(32).fill(3);
  const view = whole.subarray(8, 24);
  await releaseVoxels(volumeOf(view));
  assert.equal(view.length, 16);
  assert.equal(whole[0], 3, 'the larger buffer is intact');
});

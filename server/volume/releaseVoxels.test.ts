import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readNifti } from './nifti.ts';
import { writeNifti } from './niftiWrite.ts';
import { releaseVoxels } from './releaseVoxels.ts';
import type { Volume } from './volume.ts';
import { voxelRow } from '../../test/support/volumes.ts';

test('releasing a volume frees its voxel memory at once', async () => {
  const mb = 256;
  const rss = (): number => process.memoryUsage.rss() / 2 ** 20;
  const volume = voxelRow(new Int16Array((mb * 2 ** 20) / 2).fill(7));
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
  await releaseVoxels(voxelRow(shared));
  assert.equal(shared.length, 16);
  const whole = new Int16Array(32).fill(3);
  const view = whole.subarray(8, 24);
  await releaseVoxels(voxelRow(view));
  assert.equal(view.length, 16);
  assert.equal(whole[0], 3, 'the larger buffer is intact');
});

test("a .nii.gz read from a file is freed whole, header and all; a caller's buffer is left alone", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'release-nifti-'));
  try {
    const path = join(dir, 'ct.nii.gz');
    const ct: Volume = { ...voxelRow(new Int16Array(512 * 512 * 256).fill(7)), dims: [512, 512, 256] };
    await writeNifti(path, ct, { level: 1 });
    const rss = (): number => process.memoryUsage.rss() / 2 ** 20;
    const read = await readNifti(path);
    assert.equal(read.data.length, ct.data.length);
    assert.notEqual(read.data.byteOffset, 0, 'the voxels are a view after the header');
    const before = rss();
    await releaseVoxels(read);
    assert.equal(read.data.length, 0);
    assert.ok(before - rss() > 128 * 0.9, `RSS fell by ${(before - rss()).toFixed(0)} MB of 128 MB`);

    const bytes = await readFile(join(dir, 'ct.nii.gz'));
    const plain = gunzipSync(bytes);
    const fromBuffer = await readNifti(plain);
    await releaseVoxels(fromBuffer);
    assert.equal(fromBuffer.data.length, ct.data.length, "a view into the caller's buffer stays");
    assert.equal(plain.readInt32LE(0), 348, "the caller's buffer is intact");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

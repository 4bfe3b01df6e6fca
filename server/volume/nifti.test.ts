import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readNifti } from './nifti.ts';
import { writeNifti } from './niftiWrite.ts';
import { makeSyntheticCt } from '../../test/support/syntheticCt.ts';
import { assertSameVolume } from '../../test/support/volumes.ts';
import type { Volume } from './volume.ts';

test('NIfTI write -> read keeps data, type and LPS geometry (oblique, int16 CT and uint8 labels)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nifti-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ct = makeSyntheticCt({ dims: [40, 30, 10], spacing: [0.75, 0.75, 2.5], seed: 5 });
  const c = Math.cos(0.4);
  const s = Math.sin(0.4);
  ct.direction = [c, -s, 0, s, c, 0, 0, 0, 1];
  ct.origin = [-12.5, 40.25, -100];
  for (const name of ['ct.nii.gz', 'ct.nii']) {
    await writeNifti(join(dir, name), ct);
    const back = await readNifti(join(dir, name));
    assert.ok(back.data instanceof Int16Array);
    assertSameVolume(back, ct);
  }
  const labels: Volume = {
    ...ct,
    data: new Uint8Array(ct.data.length).map((_, i) => (ct.data[i] > 300 ? 2 : ct.data[i] > -500 ? 1 : 0)),
  };
  await writeNifti(join(dir, 'seg.nii.gz'), labels);
  const labelsBack = await readNifti(join(dir, 'seg.nii.gz'));
  assert.ok(labelsBack.data instanceof Uint8Array);
  assertSameVolume(labelsBack, labels);
  // Float CT with whole values is stored as int16 (what engines expect for HU).
  const floatCt: Volume = { ...ct, data: Float32Array.from(ct.data) };
  await writeNifti(join(dir, 'f.nii.gz'), floatCt);
  const header = gunzipSync(await readFile(join(dir, 'f.nii.gz')));
  assert.equal(header.readInt16LE(70), 4, 'datatype int16');
  assert.equal(header.readInt16LE(252), 1, 'qform_code');
  assert.equal(header.readInt16LE(254), 1, 'sform_code');
  // The qform alone (sform_code 0) must describe the same geometry: checks the quaternion.
  header.writeInt16LE(0, 254);
  await writeFile(join(dir, 'qonly.nii'), header);
  assertSameVolume(await readNifti(join(dir, 'qonly.nii')), ct, 1e-4);
  // RAS on disk: the sform's x and y rows are the negated LPS ones.
  assert.ok(Math.abs(header.readFloatLE(280 + 12) - 12.5) < 1e-6, 'srow_x[3] = -origin_L');
  assert.ok(Math.abs(header.readFloatLE(296 + 12) + 40.25) < 1e-6, 'srow_y[3] = -origin_P');
});

test('NIfTI: damaged input gives a clear error; write is atomic', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nifti-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(readNifti(Buffer.from('not a nifti file at all'.repeat(20))), { code: 'not-a-volume-file' });
  const ct = makeSyntheticCt({ dims: [8, 8, 4], seed: 1 });
  await writeNifti(join(dir, 'a.nii'), ct);
  const full = await readFile(join(dir, 'a.nii'));
  await assert.rejects(readNifti(full.subarray(0, full.length - 10)), { code: 'corrupt-volume-file' });
  await assert.rejects(writeNifti(join(dir, 'missing-dir', 'b.nii.gz'), ct));
});

test('NIfTI .nii.gz from a path is decompressed as it is read: same voxels, grows past a short gzip trailer, clear error when truncated', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nifti-gz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ct = makeSyntheticCt({ dims: [40, 30, 20], seed: 2 });
  const path = join(dir, 'a.nii.gz');
  await writeNifti(path, ct);
  const gz = await readFile(path);
  assert.deepEqual((await readNifti(path)).data, ct.data);
  // Two gzip members: the trailer only gives the last member's length, so the buffer must grow.
  const raw = gunzipSync(gz);
  const split = join(dir, 'two-members.nii.gz');
  await writeFile(split, Buffer.concat([gzipSync(raw.subarray(0, 1000)), gzipSync(raw.subarray(1000))]));
  assert.deepEqual((await readNifti(split)).data, ct.data);
  const cut = join(dir, 'cut.nii.gz');
  await writeFile(cut, gz.subarray(0, gz.length >> 1));
  await assert.rejects(readNifti(cut), { code: 'corrupt-volume-file' });
});

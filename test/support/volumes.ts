import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readDicomSeries, VolumeError } from '../../server/volume/dicomSeries.ts';
import { IDENTITY_DIRECTION, type Volume, type VoxelArray } from '../../server/volume/volume.ts';

/** Volume comparisons shared by the volume readers' unit tests and their real-data tests. */

/** `data` as a volume of one row of 1 mm voxels at the origin. */
export function voxelRow(data: VoxelArray): Volume {
  return { dims: [data.length, 1, 1], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [...IDENTITY_DIRECTION], data };
}

export async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort().map((f) => join(dir, f));
}

export function assertSameGeometry(a: Volume, b: Volume, tol = 1e-4): void {
  assert.deepEqual(a.dims, b.dims);
  for (let i = 0; i < 3; i++)
    assert.ok(Math.abs(a.spacing[i] - b.spacing[i]) < tol, `spacing ${a.spacing} vs ${b.spacing}`);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(a.origin[i] - b.origin[i]) < tol, `origin ${a.origin} vs ${b.origin}`);
  for (let i = 0; i < 9; i++)
    assert.ok(Math.abs(a.direction[i] - b.direction[i]) < 1e-5, `direction ${a.direction} vs ${b.direction}`);
}

export function assertSameVoxels(a: Volume, b: Volume): void {
  assert.equal(a.data.length, b.data.length);
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) assert.fail(`voxel ${i} differs: ${a.data[i]} vs ${b.data[i]}`);
  }
}

/**
 * The same physical grid may be stored with axes flipped or permuted (dcm2niix/dicom2nifti flip rows to
 * the NIfTI convention). Returns `v` re-indexed onto `ref`'s axes, failing if the grids differ otherwise.
 */
export function reorientLike(v: Volume, ref: Volume): Volume {
  const axis: number[] = [];
  const sign: number[] = [];
  for (let r = 0; r < 3; r++) {
    const rc = [ref.direction[r], ref.direction[3 + r], ref.direction[6 + r]];
    for (let a = 0; a < 3; a++) {
      const vc = [v.direction[a], v.direction[3 + a], v.direction[6 + a]];
      const d = rc[0] * vc[0] + rc[1] * vc[1] + rc[2] * vc[2];
      if (Math.abs(Math.abs(d) - 1) < 1e-3) {
        axis[r] = a;
        sign[r] = Math.sign(d);
      }
    }
  }
  assert.equal(axis.length, 3, 'grids are not axis-aligned with each other');
  const dims = [0, 1, 2].map((r) => v.dims[axis[r]]) as Volume['dims'];
  const out = new (v.data.constructor as new (n: number) => Volume['data'])(v.data.length);
  const strides = [1, v.dims[0], v.dims[0] * v.dims[1]];
  const idx = [0, 0, 0];
  let o = 0;
  for (idx[2] = 0; idx[2] < dims[2]; idx[2]++)
    for (idx[1] = 0; idx[1] < dims[1]; idx[1]++)
      for (idx[0] = 0; idx[0] < dims[0]; idx[0]++) {
        let src = 0;
        for (let r = 0; r < 3; r++) src += (sign[r] > 0 ? idx[r] : dims[r] - 1 - idx[r]) * strides[axis[r]];
        out[o++] = v.data[src];
      }
  // The new origin is the old voxel that became (0,0,0).
  const corner = [0, 1, 2].map((a) => {
    const r = axis.indexOf(a);
    return sign[r] > 0 ? 0 : v.dims[a] - 1;
  });
  const origin = [0, 1, 2].map(
    (w) => v.origin[w] + [0, 1, 2].reduce((acc, a) => acc + v.direction[w * 3 + a] * v.spacing[a] * corner[a], 0),
  ) as Volume['origin'];
  const spacing = [0, 1, 2].map((r) => v.spacing[axis[r]]) as Volume['spacing'];
  const direction = [0, 1, 2].flatMap((w) =>
    [0, 1, 2].map((r) => v.direction[w * 3 + axis[r]] * sign[r]),
  ) as Volume['direction'];
  return { dims, spacing, origin, direction, data: out };
}

/** Reading `files` as a series fails with a VolumeError of `code`; returns it. */
export async function expectVolumeError(files: string[], code: string): Promise<VolumeError> {
  try {
    await readDicomSeries(files);
  } catch (err) {
    assert.ok(err instanceof VolumeError, `expected VolumeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected VolumeError ${code}`);
}

/** Each component of `a` within `tol` of `b`'s. */
export function closeTo(a: number[], b: number[], tol: number, what: string): void {
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${what}: ${a} vs ${b}`));
}

/** Same grid, geometry (within `tol`) and voxels. */
export function assertSameVolume(a: Volume, b: Volume, tol = 1e-4): void {
  assert.deepEqual(a.dims, b.dims);
  closeTo(a.spacing, b.spacing, tol, 'spacing');
  closeTo(a.origin, b.origin, tol, 'origin');
  closeTo(a.direction, b.direction, 1e-6, 'direction');
  assert.equal(a.data.length, b.data.length);
  for (let i = 0; i < a.data.length; i++)
    if (a.data[i] !== b.data[i]) assert.fail(`voxel ${i}: ${a.data[i]} vs ${b.data[i]}`);
}

/** Millilitres per label of a label map. */
export function labelVolumesMl(labels: ArrayLike<number>, spacing: [number, number, number]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (let i = 0; i < labels.length; i++) if (labels[i]) counts[labels[i]] = (counts[labels[i]] ?? 0) + 1;
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  return Object.fromEntries(Object.entries(counts).map(([l, c]) => [l, c * voxelMl]));
}

import { column, dot } from '../volume/geometry.ts';
import type { LabelArray, LabelMap, Volume } from '../volume/volume.ts';

/**
 * Puts a label map onto the voxel grid of its source image. A label map read back from NIfTI may
 * have its axes flipped or permuted (RAS/LPS conventions, reorienting readers), yet it covers the
 * same voxels; a DICOM SEG must be expressed on the source slices so each frame can name the image
 * it was derived from. Only axis-aligned grids with the same spacing are accepted: anything else
 * would need interpolation, which would change the segmentation.
 */

export class GridMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GridMismatchError';
  }
}

type Grid = Pick<Volume, 'dims' | 'spacing' | 'origin' | 'direction'>;

export function alignToGrid(labels: LabelMap, target: Grid): LabelMap {
  const axis: number[] = [];
  const sign: number[] = [];
  const offset: number[] = [];
  const delta = [0, 1, 2].map((k) => labels.origin[k] - target.origin[k]);
  for (let a = 0; a < 3; a++) {
    const dt = column(target.direction, a);
    let found = -1;
    for (let b = 0; b < 3; b++) {
      const d = dot(dt, column(labels.direction, b));
      if (Math.abs(d) > 0.999) {
        found = b;
        sign[a] = Math.sign(d);
      }
    }
    if (found < 0) throw new GridMismatchError('the label map is not aligned with the source image axes');
    if (Math.abs(labels.spacing[found] - target.spacing[a]) > 1e-3 * Math.max(1, target.spacing[a])) {
      throw new GridMismatchError(
        `the label map spacing (${labels.spacing[found]} mm) differs from the source image's (${target.spacing[a]} mm)`,
      );
    }
    axis[a] = found;
  }
  if (new Set(axis).size !== 3)
    throw new GridMismatchError('the label map axes do not match the source image axes one to one');
  // Target index t_a maps to label index l_b = (dot(originT - originL, dirL_b) + sign * spacing * t_a) / spacing.
  for (let a = 0; a < 3; a++) {
    const b = axis[a];
    const along = -dot(delta, column(labels.direction, b)) / labels.spacing[b];
    const rounded = Math.round(along);
    if (Math.abs(along - rounded) > 0.05)
      throw new GridMismatchError('the label map voxels are shifted against the source image voxels');
    offset[a] = rounded;
  }
  const identity =
    axis.every((b, a) => b === a) &&
    sign.every((s) => s > 0) &&
    offset.every((o) => o === 0) &&
    labels.dims.every((d, a) => d === target.dims[a]);
  if (identity)
    return { ...labels, origin: [...target.origin], direction: [...target.direction], spacing: [...target.spacing] };

  const [nx, ny, nz] = target.dims;
  const out: LabelArray = new (labels.data.constructor as new (n: number) => LabelArray)(nx * ny * nz);
  const [lx, ly] = labels.dims;
  const strides = [1, lx, lx * ly];
  const idx = (a: number, t: number): number => {
    const l = offset[a] + sign[a] * t;
    return l >= 0 && l < labels.dims[axis[a]] ? l * strides[axis[a]] : -1;
  };
  for (let k = 0; k < nz; k++) {
    const zk = idx(2, k);
    if (zk < 0) continue;
    for (let j = 0; j < ny; j++) {
      const yj = idx(1, j);
      if (yj < 0) continue;
      for (let i = 0; i < nx; i++) {
        const xi = idx(0, i);
        if (xi < 0) continue;
        out[(k * ny + j) * nx + i] = labels.data[zk + yj + xi];
      }
    }
  }
  return {
    dims: [...target.dims],
    spacing: [...target.spacing],
    origin: [...target.origin],
    direction: [...target.direction],
    data: out,
  };
}

import type { LabelMap, Vec3 } from '../volume/volume.ts';

export interface LabelStats {
  voxels: number;
  /** Inclusive voxel index bounds. */
  min: Vec3;
  max: Vec3;
}

/**
 * Voxel count and index bounding box of every label, in one pass over the label map: the mesher
 * then visits only each label's box instead of the whole volume once per label.
 */
export function labelStats(labelMap: LabelMap): Map<number, LabelStats> {
  const { data, dims } = labelMap;
  const [nx, ny, nz] = dims;
  const size = data instanceof Uint8Array ? 256 : 65536;
  const counts = new Float64Array(size);
  const box = new Int32Array(size * 6);
  for (let l = 0; l < size; l++) {
    box[l * 6] = box[l * 6 + 1] = box[l * 6 + 2] = 0x7fffffff;
    box[l * 6 + 3] = box[l * 6 + 4] = box[l * 6 + 5] = -1;
  }
  let i = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      // Runs of one label are long in segmentations: update the box once per run, not per voxel.
      let x = 0;
      while (x < nx) {
        const l = data[i];
        const start = x;
        while (x < nx && data[i] === l) {
          x++;
          i++;
        }
        if (l === 0) continue;
        counts[l] += x - start;
        const b = l * 6;
        if (start < box[b]) box[b] = start;
        if (y < box[b + 1]) box[b + 1] = y;
        if (z < box[b + 2]) box[b + 2] = z;
        if (x - 1 > box[b + 3]) box[b + 3] = x - 1;
        if (y > box[b + 4]) box[b + 4] = y;
        if (z > box[b + 5]) box[b + 5] = z;
      }
    }
  }
  const out = new Map<number, LabelStats>();
  for (let l = 1; l < size; l++) {
    if (counts[l] === 0) continue;
    const b = l * 6;
    out.set(l, { voxels: counts[l], min: [box[b], box[b + 1], box[b + 2]], max: [box[b + 3], box[b + 4], box[b + 5]] });
  }
  return out;
}

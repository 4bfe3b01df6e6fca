import { allStructures } from '../../server/terminology/structures.ts';
import { column, dot } from '../../server/volume/geometry.ts';
import type { LabelMap, Volume } from '../../server/volume/volume.ts';

/**
 * Measures a built-in segmentation against TotalSegmentator's labels of the same scan, in world
 * space: every voxel of our grid looks up the reference voxel whose centre is nearest to its own,
 * so grids that differ in axis order, flips or extent (NIfTI written in RAS, DICOM read in LPS)
 * compare voxel by voxel. Used by the quality benchmark and the real-data tests.
 */

export type Structure = 'bone' | 'lungs';

/** TotalSegmentator's class ids (task `total`) that make up our structures, from its class map by name. */
export function referenceClassIds(structure: Structure): number[] {
  const bone = /^(sacrum|vertebrae_|humerus_|scapula_|clavicula_|femur_|hip_|skull$|rib_|sternum$)/;
  const pattern = structure === 'bone' ? bone : /^lung_/;
  return allStructures().flatMap((s) => (s.id !== undefined && pattern.test(s.structure) ? [s.id] : []));
}

/**
 * The reference's label at each voxel of `grid` (nearest voxel centre, 0 outside the reference).
 */
export function resampleToGrid(
  reference: LabelMap | Volume,
  grid: Pick<Volume, 'dims' | 'spacing' | 'origin' | 'direction'>,
): Uint8Array {
  const [nx, ny, nz] = grid.dims;
  const out = new Uint8Array(nx * ny * nz);
  const [rx, ry, rz] = reference.dims;
  // Reference index along axis b = dot(p - originR, dirR_b) / spacingR_b, with p = origin + sum_a dir_a * s_a * i_a.
  const rDir = [0, 1, 2].map((b) => column(reference.direction, b));
  const gDir = [0, 1, 2].map((a) => column(grid.direction, a));
  const start = [0, 1, 2].map(
    (b) =>
      dot(
        [0, 1, 2].map((k) => grid.origin[k] - reference.origin[k]),
        rDir[b],
      ) / reference.spacing[b],
  );
  // step[a][b]: change of reference index b per step along our axis a.
  const step = [0, 1, 2].map((a) =>
    [0, 1, 2].map((b) => (dot(gDir[a], rDir[b]) * grid.spacing[a]) / reference.spacing[b]),
  );
  const data = reference.data;
  let i = 0;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++) {
      const b0 = start[0] + step[1][0] * y + step[2][0] * z;
      const b1 = start[1] + step[1][1] * y + step[2][1] * z;
      const b2 = start[2] + step[1][2] * y + step[2][2] * z;
      for (let x = 0; x < nx; x++, i++) {
        const u = Math.round(b0 + step[0][0] * x);
        const v = Math.round(b1 + step[0][1] * x);
        const w = Math.round(b2 + step[0][2] * x);
        if (u < 0 || v < 0 || w < 0 || u >= rx || v >= ry || w >= rz) continue;
        out[i] = data[(w * ry + v) * rx + u];
      }
    }
  return out;
}

export interface StructureScore {
  dice: number;
  /** Our volume over the reference's. */
  volumeRatio: number;
  oursMl: number;
  referenceMl: number;
  /** Share of our voxels that the reference labels the same (precision) and of its voxels we found (recall). */
  precision: number;
  recall: number;
}

export interface Comparison {
  bone: StructureScore;
  lungs: StructureScore;
  /** Share of the reference's labelled voxels (any class) that lie inside our body (any of our labels). */
  referenceInsideBody: number;
}

/** Scores our label map (labels `ours`) against the reference resampled onto its grid. */
export function compareWithReference(
  labels: LabelMap,
  reference: Uint8Array,
  ours: { bone: number; lungs: number },
): Comparison {
  const voxelMl = (labels.spacing[0] * labels.spacing[1] * labels.spacing[2]) / 1000;
  const isBone = new Uint8Array(256);
  for (const id of referenceClassIds('bone')) isBone[id] = 1;
  const isLung = new Uint8Array(256);
  for (const id of referenceClassIds('lungs')) isLung[id] = 1;
  const counts = { bone: [0, 0, 0], lungs: [0, 0, 0] }; // ours, reference, both
  let refLabelled = 0;
  let refInside = 0;
  const data = labels.data;
  for (let i = 0; i < data.length; i++) {
    const l = data[i];
    const r = reference[i];
    if (r) {
      refLabelled++;
      if (l) refInside++;
    }
    const ob = l === ours.bone ? 1 : 0;
    const rb = isBone[r];
    counts.bone[0] += ob;
    counts.bone[1] += rb;
    counts.bone[2] += ob & rb;
    const ol = l === ours.lungs ? 1 : 0;
    const rl = isLung[r];
    counts.lungs[0] += ol;
    counts.lungs[1] += rl;
    counts.lungs[2] += ol & rl;
  }
  const score = ([o, r, both]: number[]): StructureScore => ({
    dice: o + r > 0 ? (2 * both) / (o + r) : 1,
    volumeRatio: r > 0 ? o / r : o > 0 ? Infinity : 1,
    oursMl: o * voxelMl,
    referenceMl: r * voxelMl,
    precision: o > 0 ? both / o : 1,
    recall: r > 0 ? both / r : 1,
  });
  return {
    bone: score(counts.bone),
    lungs: score(counts.lungs),
    referenceInsideBody: refLabelled > 0 ? refInside / refLabelled : 1,
  };
}

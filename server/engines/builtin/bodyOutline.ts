import type { Vec3, VoxelArray } from '../../volume/volume.ts';
import {
  componentsOfRuns,
  fillHolesPerSlice,
  fillRunHoles,
  keptRuns,
  paintComponents,
  runsAbove,
  type Components,
} from './components.ts';
import { axialPlanes } from './planes.ts';

/**
 * The patient's outline: every connected part above the tissue threshold that is big and thick
 * enough to be a body part (trunk, arms, legs, head), cavities filled slice by slice. Tables, head
 * holders, cushions' shells and cables are thin in the axial plane (a few millimetres), whereas an
 * arm's or a child's wrist's cross-section is centimetres across: a part is kept when some voxel of it
 * lies at least `minHalfThicknessMm` inside it along both in-plane axes.
 */

export const BODY_OUTLINE = {
  /** Parts smaller than this are noise or positioning aids. */
  minPartMl: 5,
  /** A part must be at least twice this thick, across both in-plane axes, somewhere. */
  minHalfThicknessMm: 5,
} as const;

export interface BodyOutline {
  /** Body parts kept, largest first (mL). */
  partsMl: number[];
  /** Parts left out because they are thin (tables, holders) or small. */
  thinDropped: number;
  smallDropped: number;
  voxels: number;
  /**
   * Per row of voxels along x (z * ny + y): the body lies within [span[2r], span[2r + 1]), cavities
   * filled included; the later steps scan only there.
   */
  span: Uint32Array;
}

/** The component of voxel `i` (its row and x), or -1. */
function componentAt(c: Components, nx: number, i: number): number {
  const row = Math.floor(i / nx);
  const x = i - row * nx;
  let lo = c.rowFirst[row];
  let hi = c.rowFirst[row + 1] - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c.runs[mid * 3 + 1] <= x) lo = mid + 1;
    else if (c.runs[mid * 3] > x) hi = mid - 1;
    else return c.runComponent[mid];
  }
  return -1;
}

/**
 * Marks each candidate component that has a voxel whose in-plane neighbours within `ru` voxels along
 * u and `rv` along v are all set: an erosion by a cross, computed with running counts in one pass
 * over the planes. When the planes contain x (axis 1 or 2), each plane row is a row of runs: only
 * the runs of candidates not yet found thick are visited, so the trunk costs a few planes, not all.
 */
function thickComponents(
  c: Components,
  candidate: Uint8Array,
  labels: Uint8Array,
  value: number,
  dims: Vec3,
  spacing: Vec3,
  axis: 0 | 1 | 2,
  signal?: AbortSignal,
): Uint8Array {
  const p = axialPlanes(dims, spacing, axis);
  const ru = Math.max(1, Math.round(BODY_OUTLINE.minHalfThicknessMm / p.du));
  const rv = Math.max(1, Math.round(BODY_OUTLINE.minHalfThicknessMm / p.dv));
  const thick = new Uint8Array(c.count);
  // Per position along u: the plane row where its current run along v started, and where it was last set.
  const start = new Int32Array(p.nu);
  const seen = new Int32Array(p.nu);
  const ny = dims[1];
  for (let w = 0; w < p.count; w++) {
    if (signal && (w & 15) === 0) signal.throwIfAborted();
    seen.fill(-2);
    for (let b = 0; b < p.nv; b++) {
      if (axis !== 0) {
        const r = axis === 2 ? w * ny + b : b * ny + w;
        for (let k = c.rowFirst[r]; k < c.rowFirst[r + 1]; k++) {
          const id = c.runComponent[k];
          if (!candidate[id] || thick[id]) continue;
          let along = 0;
          for (let a = c.runs[k * 3]; a < c.runs[k * 3 + 1]; a++) {
            if (seen[a] !== b - 1) start[a] = b;
            seen[a] = b;
            along = b - start[a] >= 2 * rv ? along + 1 : 0;
            if (along > 2 * ru) {
              thick[id] = 1;
              break;
            }
          }
        }
        continue;
      }
      const row = w * p.sw + b * p.sv;
      let along = 0;
      let reported = false;
      for (let a = 0; a < p.nu; a++) {
        const i = row + a * p.su;
        if (labels[i] !== value) {
          along = 0;
          reported = false;
          continue;
        }
        if (seen[a] !== b - 1) start[a] = b;
        seen[a] = b;
        along = b - start[a] >= 2 * rv ? along + 1 : 0;
        if (along > 2 * ru && !reported) {
          // One look-up per run of deep voxels: they all belong to one part.
          reported = true;
          const id = componentAt(c, dims[0], i);
          if (id >= 0 && candidate[id]) thick[id] = 1;
        }
        if (along === 0) reported = false;
      }
    }
  }
  return thick;
}

/** Writes `value` on the body's voxels in `labels` (all zero on entry). */
export function outlineBody(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  axis: 0 | 1 | 2,
  threshold: number,
  labels: Uint8Array,
  value: number,
  signal?: AbortSignal,
): BodyOutline {
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  const parts = componentsOfRuns(runsAbove(data, dims, threshold, signal), dims, signal);
  const candidate = new Uint8Array(parts.count);
  let smallDropped = 0;
  for (let id = 0; id < parts.count; id++) {
    if (parts.sizes[id] * voxelMl >= BODY_OUTLINE.minPartMl) candidate[id] = 1;
    else if (parts.sizes[id] * voxelMl >= 0.1) smallDropped++;
  }
  paintComponents(parts, candidate, labels, value);
  const keep = thickComponents(parts, candidate, labels, value, dims, spacing, axis, signal);
  const dropped = new Uint8Array(parts.count);
  let thinDropped = 0;
  const partsMl: number[] = [];
  let voxels = 0;
  for (let id = 0; id < parts.count; id++) {
    if (candidate[id] && !keep[id]) {
      dropped[id] = 1;
      thinDropped++;
    }
    if (keep[id]) {
      partsMl.push(parts.sizes[id] * voxelMl);
      voxels += parts.sizes[id];
    }
  }
  if (thinDropped > 0) paintComponents(parts, dropped, labels, 0);
  const rows = dims[1] * dims[2];
  const span = new Uint32Array(2 * rows);
  if (partsMl.length === 0) return { partsMl, thinDropped, smallDropped, voxels: 0, span };
  const kept = keptRuns(parts, keep);
  if (axis === 0) fillHolesPerSlice(labels, dims, 0, value, signal);
  else fillRunHoles(kept, dims, axis, labels, value, undefined, signal);
  // Planes that contain x fill cavities between a row's runs; across x (axis 0) they may lie anywhere.
  for (let r = 0; r < rows; r++) {
    const first = kept.rowFirst[r];
    const last = kept.rowFirst[r + 1];
    if (axis === 0) span[2 * r + 1] = dims[0];
    else if (last > first) {
      span[2 * r] = kept.runs[first * 3];
      span[2 * r + 1] = kept.runs[(last - 1) * 3 + 1];
    }
  }
  partsMl.sort((a, b) => b - a);
  return { partsMl, thinDropped, smallDropped, voxels, span };
}

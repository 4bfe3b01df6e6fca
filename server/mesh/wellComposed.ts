import { walkMixedCells, type MaskSource } from './cellWalk.ts';

/**
 * Makes a mask well-composed (Latecki 1997) by adding voxels, so that surface nets give a 2-manifold.
 * Voxels that touch only along an edge or at a corner are where a dual surface pinches: one vertex
 * or edge shared by two sheets, which 3D-printing slicers repair or reject. A mask is well-composed
 * when no cell (2x2x2 voxels) holds a critical configuration: a face with inside corners on one
 * diagonal and outside on the other (C1), or two inside (or two outside) corners opposite through
 * the cell's centre and the rest the other way (C2). Then every cell's surface is one disk and every
 * face is crossed at most once, so each mesh edge lies in exactly two triangles.
 *
 * Each critical cell gets the fewest corners added that leave it non-critical; the cells around an
 * added voxel are checked again, until none is critical. Only adding, so it ends; the added voxels
 * join what touched along an edge or corner (a printed part would have to join or split them; joining
 * keeps every voxel of the segmentation).
 */

function computeCritical(config: number): boolean {
  const at = (b: number): number => (config >> b) & 1;
  for (const axis of [1, 2, 4]) {
    const [u, v] = [1, 2, 4].filter((b) => b !== axis);
    for (const side of [0, axis]) {
      const a = at(side);
      const b = at(side | u);
      if (a === at(side | u | v) && b === at(side | v) && a !== b) return true;
    }
  }
  for (let b = 0; b < 4; b++) {
    const pair = (1 << b) | (1 << (7 - b));
    if (config === pair || config === (255 & ~pair)) return true;
  }
  return false;
}

/** 1 where a cell configuration is critical (C1 or C2). */
export const CRITICAL = Uint8Array.from({ length: 256 }, (_, c) => (computeCritical(c) ? 1 : 0));

function popcount(v: number): number {
  let n = 0;
  for (; v; v &= v - 1) n++;
  return n;
}

/** Per critical configuration, the corners to add: the fewest that leave the cell non-critical. */
export const FIX = (() => {
  const fix = new Uint8Array(256);
  const byCount = Array.from({ length: 256 }, (_, m) => m).sort((a, b) => popcount(a) - popcount(b) || a - b);
  for (let c = 0; c < 256; c++) {
    if (!CRITICAL[c]) continue;
    fix[c] = byCount.find((m) => (m & c) === 0 && !CRITICAL[c | m]) ?? 0;
  }
  return fix;
})();

/** The cell at the lower corner (x, y, z), in volume indices, for each critical cell a walk met. */
export interface CriticalCells {
  /** x, y, z of each, in turn. */
  cells: number[];
}

/**
 * The voxels to add to the mask (volume indices, grouped by slice z, each `y * nx + x`) so it is
 * well-composed; undefined when it already is. Every added voxel lies inside `mask.box`.
 * `found`: the critical cells of the mask as it is, when a walk over it (surface nets) already
 * listed them; otherwise the mask is walked here.
 */
export function wellComposedAdditions(
  mask: Omit<MaskSource, 'added'>,
  signal?: AbortSignal,
  found?: CriticalCells,
): Map<number, number[]> | undefined {
  const { data, dims, include, box } = mask;
  const [nx, ny] = dims;
  const [x0, y0, z0] = box.min;
  const [x1, y1, z1] = box.max;
  let work: number[];
  if (found) work = found.cells.slice();
  else {
    work = [];
    let wz = 0;
    walkMixedCells(
      mask,
      {
        slab: (cz) => void (wz = z0 - 1 + cz),
        cell: (_c, cx, cy, config) => void (CRITICAL[config] && work.push(x0 - 1 + cx, y0 - 1 + cy, wz)),
      },
      signal,
    );
  }
  if (work.length === 0) return undefined;

  const added = new Set<number>();
  const inside = (x: number, y: number, z: number): number => {
    if (x < x0 || x > x1 || y < y0 || y > y1 || z < z0 || z > z1) return 0;
    const i = (z * ny + y) * nx + x;
    return include[data[i]] || (added.has(i) ? 1 : 0);
  };
  let steps = 0;
  while (work.length > 0) {
    if (signal && (++steps & 0xffff) === 0) signal.throwIfAborted();
    const z = work.pop() as number;
    const y = work.pop() as number;
    const x = work.pop() as number;
    let config = 0;
    for (let b = 0; b < 8; b++) config |= inside(x + (b & 1), y + ((b >> 1) & 1), z + (b >> 2)) << b;
    if (!CRITICAL[config]) continue;
    const fix = FIX[config];
    for (let b = 0; b < 8; b++) {
      if (!((fix >> b) & 1)) continue;
      const vx = x + (b & 1);
      const vy = y + ((b >> 1) & 1);
      const vz = z + (b >> 2);
      // A corner outside the box is never needed (a critical cell's fix lies where its inside corners are).
      if (vx < x0 || vx > x1 || vy < y0 || vy > y1 || vz < z0 || vz > z1) continue;
      added.add((vz * ny + vy) * nx + vx);
      // The eight cells that have this voxel as a corner.
      for (let d = 0; d < 8; d++) work.push(vx - (d & 1), vy - ((d >> 1) & 1), vz - (d >> 2));
    }
  }
  const bySlice = new Map<number, number[]>();
  const perSlice = nx * ny;
  for (const i of added) {
    const z = Math.floor(i / perSlice);
    let list = bySlice.get(z);
    if (!list) bySlice.set(z, (list = []));
    list.push(i - z * perSlice);
  }
  return bySlice;
}

/** Number of voxels in `additions`. */
export function additionCount(additions: Map<number, number[]> | undefined): number {
  let n = 0;
  for (const list of additions?.values() ?? []) n += list.length;
  return n;
}

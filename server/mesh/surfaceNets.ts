import type { LabelArray, Vec3 } from '../volume/volume.ts';
import { GrowableFloat32, GrowableUint32 } from './growable.ts';

/**
 * Surface nets on a binary mask (Gibson 1998; the algorithm of VTK's vtkSurfaceNets3D and Slicer's
 * "surface nets" option). Written here because no maintained npm package works on typed arrays
 * without per-voxel objects: the `surface-nets`/`isosurface` packages take a callback per voxel
 * and return arrays of arrays, which for a 78 M-voxel CT means gigabytes of garbage.
 *
 * Why surface nets rather than marching cubes: one vertex per boundary cell (an indexed mesh with
 * no vertex welding pass), two triangles per boundary voxel face, and the result is closed by
 * construction (every quad edge is shared by exactly two quads, with opposite direction) whatever
 * the configuration, where the classic marching-cubes table can leave holes in ambiguous faces.
 *
 * The grid is walked two voxel slices at a time, so memory is O(slice), not O(volume).
 */

export interface IndexBox {
  /** Inclusive voxel index bounds. */
  min: Vec3;
  max: Vec3;
}

export interface SurfaceMesh {
  /**
   * xyz per vertex in "grid millimetres": voxel index times spacing, before the volume's
   * direction and origin are applied (so smoothing sees true distances, and the constraint
   * box of each vertex is axis-aligned).
   */
  positions: Float32Array;
  indices: Uint32Array;
}

/**
 * Arrays to build surfaces in, reused from one surface to the next (each surface's arrays are then
 * views into them, valid until the next surface is built in the same scratch).
 */
export interface SurfaceScratch {
  positions: GrowableFloat32;
  indices: GrowableUint32;
}

/** Average offset (0..1 per axis, inside the cell) of the crossing-edge midpoints, per corner configuration. */
const VERTEX_OFFSET = (() => {
  const table = new Float32Array(256 * 3);
  // Corner b has offset (b & 1, (b >> 1) & 1, (b >> 2) & 1); the 12 edges join corners one bit apart.
  const edges: Array<[number, number]> = [];
  for (let a = 0; a < 8; a++) for (const bit of [1, 2, 4]) if (!(a & bit)) edges.push([a, a | bit]);
  for (let config = 1; config < 255; config++) {
    let sx = 0;
    let sy = 0;
    let sz = 0;
    let n = 0;
    for (const [a, b] of edges) {
      if (((config >> a) & 1) === ((config >> b) & 1)) continue;
      sx += ((a & 1) + (b & 1)) / 2;
      sy += (((a >> 1) & 1) + ((b >> 1) & 1)) / 2;
      sz += (((a >> 2) & 1) + ((b >> 2) & 1)) / 2;
      n++;
    }
    table[config * 3] = sx / n;
    table[config * 3 + 1] = sy / n;
    table[config * 3 + 2] = sz / n;
  }
  return table;
})();

/**
 * Extracts the closed surface of the voxels whose label `l` has `include[l] === 1`, visiting only
 * `box` (which must contain every such voxel) plus a one-voxel border of background.
 * Triangles are wound counter-clockwise seen from outside (outward normals) in grid space.
 */
export function extractSurface(
  data: LabelArray,
  dims: Vec3,
  spacing: Vec3,
  include: Uint8Array,
  box: IndexBox,
  signal?: AbortSignal,
  scratch?: SurfaceScratch,
): SurfaceMesh {
  const [nx, ny] = dims;
  const [x0, y0, z0] = box.min;
  const [x1, y1, z1] = box.max;
  // Padded grid: one background voxel on each side, so the surface is always closed.
  const X = x1 - x0 + 3;
  const Y = y1 - y0 + 3;
  const Z = z1 - z0 + 3;
  const CX = X - 1; // cells per row
  const cellsPerSlab = CX * (Y - 1);
  const [sx, sy, sz] = spacing;

  // Each padded slice comes with, per row, the columns where the mask changes value (a row starts
  // and ends outside, so it has an even number of them). A cell whose eight corners agree makes
  // nothing, and between two such columns of its four rows every cell of a row agrees with its
  // neighbour along x, so the walk below jumps over those stretches instead of reading 8 corners
  // per cell: most cells of a CT lie deep inside or outside a structure. The benchmark CT's three
  // surfaces took 0.28 s instead of 0.61 s, vertex for vertex the same.
  let sliceA = new Uint8Array(X * Y);
  let sliceB = new Uint8Array(X * Y);
  let changesA = new Int32Array(X * Y);
  let changesB = new Int32Array(X * Y);
  // Row py's change columns are changes[rowFirst[py] .. rowFirst[py + 1]).
  let firstA = new Int32Array(Y + 1);
  let firstB = new Int32Array(Y + 1);
  let cellPrev = new Int32Array(cellsPerSlab).fill(-1);
  let cellCur = new Int32Array(cellsPerSlab).fill(-1);

  const fillSlice = (slice: Uint8Array, changes: Int32Array, rowFirst: Int32Array, pz: number): void => {
    slice.fill(0);
    rowFirst.fill(0);
    const z = z0 - 1 + pz;
    if (z < z0 || z > z1) return;
    let n = 0;
    for (let py = 1; py < Y - 1; py++) {
      rowFirst[py] = n;
      const y = y0 - 1 + py;
      let src = (z * ny + y) * nx + x0;
      let dst = py * X + 1;
      let previous = 0;
      for (let px = 1; px < X - 1; px++) {
        const inside = include[data[src++]];
        slice[dst++] = inside;
        if (inside !== previous) {
          changes[n++] = px;
          previous = inside;
        }
      }
      if (previous !== 0) changes[n++] = X - 1;
    }
    rowFirst[Y - 1] = n;
    rowFirst[Y] = n;
  };

  // Rough capacity guess: the surface of the box; grows when needed.
  const guess = Math.min(1 << 22, 2 * (X * Y + Y * Z + X * Z));
  const positions = scratch?.positions ?? new GrowableFloat32(guess * 3);
  const indices = scratch?.indices ?? new GrowableUint32(guess * 6);
  positions.length = 0;
  indices.length = 0;
  positions.reserve(guess * 3);
  indices.reserve(guess * 6);
  let vertexCount = 0;

  const quad = (a: number, b: number, c: number, d: number, flip: boolean): void => {
    if (flip) {
      indices.push3(a, c, b);
      indices.push3(a, d, c);
    } else {
      indices.push3(a, b, c);
      indices.push3(a, c, d);
    }
  };

  let wy = 0;
  let wz = 0;
  /** Cells cx of row cy of the current slab, from first to last inclusive, in order. */
  const visitCells = (cy: number, first: number, last: number): void => {
    const rowA = cy * X;
    const rowA1 = rowA + X;
    const rowC = cy * CX;
    for (let cx = first; cx <= last; cx++) {
      const i = rowA + cx;
      const i1 = rowA1 + cx;
      const config =
        sliceA[i] |
        (sliceA[i + 1] << 1) |
        (sliceA[i1] << 2) |
        (sliceA[i1 + 1] << 3) |
        (sliceB[i] << 4) |
        (sliceB[i + 1] << 5) |
        (sliceB[i1] << 6) |
        (sliceB[i1 + 1] << 7);
      if (config === 0 || config === 255) continue;
      const c = rowC + cx;
      const v = vertexCount++;
      cellCur[c] = v;
      const o = config * 3;
      positions.push3(
        (x0 - 1 + cx + VERTEX_OFFSET[o]) * sx,
        wy + VERTEX_OFFSET[o + 1] * sy,
        wz + VERTEX_OFFSET[o + 2] * sz,
      );

      const m0 = config & 1;
      // Edge along +x from this cell's first corner: the four cells around it share a quad.
      if (m0 !== ((config >> 1) & 1)) {
        quad(cellPrev[c - CX], cellPrev[c], v, cellCur[c - CX], m0 === 0);
      }
      // Edge along +y.
      if (m0 !== ((config >> 2) & 1)) {
        quad(cellPrev[c - 1], cellCur[c - 1], v, cellPrev[c], m0 === 0);
      }
      // Edge along +z.
      if (m0 !== ((config >> 4) & 1)) {
        quad(cellCur[c - 1 - CX], cellCur[c - CX], v, cellCur[c - 1], m0 === 0);
      }
    }
  };

  fillSlice(sliceB, changesB, firstB, 0);
  for (let cz = 0; cz < Z - 1; cz++) {
    if (signal && (cz & 15) === 0) signal.throwIfAborted();
    const ts = sliceA;
    sliceA = sliceB;
    sliceB = ts;
    const tc = changesA;
    changesA = changesB;
    changesB = tc;
    const tf = firstA;
    firstA = firstB;
    firstB = tf;
    fillSlice(sliceB, changesB, firstB, cz + 1);
    const tcell = cellPrev;
    cellPrev = cellCur;
    cellCur = tcell;
    cellCur.fill(-1);
    wz = (z0 - 1 + cz) * sz;

    for (let cy = 0; cy < Y - 1; cy++) {
      // The four rows at the cell row's corners: (y, y+1) in this slice and the next.
      let a0 = firstA[cy];
      const a0End = firstA[cy + 1];
      let a1 = firstA[cy + 1];
      const a1End = firstA[cy + 2];
      let b0 = firstB[cy];
      const b0End = firstB[cy + 1];
      let b1 = firstB[cy + 1];
      const b1End = firstB[cy + 2];
      if (a0 === a0End && a1 === a1End && b0 === b0End && b1 === b1End) continue; // all outside
      wy = (y0 - 1 + cy) * sy;
      // Values of the four rows at column `from`; every row is outside at column 0.
      let v0 = 0;
      let v1 = 0;
      let v2 = 0;
      let v3 = 0;
      let from = 0;
      for (;;) {
        // The next column where any of the four rows changes (X: none left).
        let at = X;
        if (a0 < a0End && changesA[a0] < at) at = changesA[a0];
        if (a1 < a1End && changesA[a1] < at) at = changesA[a1];
        if (b0 < b0End && changesB[b0] < at) at = changesB[b0];
        if (b1 < b1End && changesB[b1] < at) at = changesB[b1];
        // Cells from..at-2 have the same corners on both x sides: something only if the rows differ.
        if (at - 2 >= from && !(v0 === v1 && v1 === v2 && v2 === v3)) visitCells(cy, from, at - 2);
        if (at === X) break;
        // Cell at-1 straddles the change.
        visitCells(cy, at - 1, at - 1);
        if (a0 < a0End && changesA[a0] === at) {
          v0 ^= 1;
          a0++;
        }
        if (a1 < a1End && changesA[a1] === at) {
          v1 ^= 1;
          a1++;
        }
        if (b0 < b0End && changesB[b0] === at) {
          v2 ^= 1;
          b0++;
        }
        if (b1 < b1End && changesB[b1] === at) {
          v3 ^= 1;
          b1++;
        }
        from = at;
      }
    }
  }
  return { positions: positions.finish(), indices: indices.finish() };
}

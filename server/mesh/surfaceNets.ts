import type { LabelArray, Vec3 } from '../volume/volume.ts';
import { paddedSize, walkMixedCells, type IndexBox } from './cellWalk.ts';
import { GrowableFloat32, GrowableUint32 } from './growable.ts';
import { CRITICAL, wellComposedAdditions, type CriticalCells } from './wellComposed.ts';

/**
 * Surface nets on a binary mask (Gibson 1998; the algorithm of VTK's vtkSurfaceNets3D and Slicer's
 * "surface nets" option). Written here because no maintained npm package works on typed arrays
 * without per-voxel objects: the `surface-nets`/`isosurface` packages take a callback per voxel
 * and return arrays of arrays, which for a 78 M-voxel CT means gigabytes of garbage.
 *
 * Why surface nets rather than marching cubes: one vertex per boundary cell (an indexed mesh with
 * no vertex welding pass), two triangles per boundary voxel face, and the result is closed by
 * construction (every quad edge is shared by quads in opposite directions) whatever the
 * configuration, where the classic marching-cubes table can leave holes in ambiguous faces. Voxels
 * touching only along an edge or at a corner would pinch it (an edge in four triangles, a vertex
 * shared by two sheets): the mask is made well-composed first (wellComposed.ts), so the surface is
 * a 2-manifold.
 */

export type { IndexBox };

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
 * Extracts the closed, 2-manifold surface of the voxels whose label `l` has `include[l] === 1`
 * (plus the few voxels that make them well-composed), visiting only `box` (which must contain every
 * such voxel) plus a one-voxel border of background.
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
  // Most masks have no critical cell (the benchmark CT's body has none): the walk that builds the
  // surface lists them, and only when there are some is the mask repaired and walked again.
  const critical: CriticalCells = { cells: [] };
  const first = extractWith(data, dims, spacing, include, box, undefined, critical, signal, scratch);
  if (critical.cells.length === 0) return first;
  const added = wellComposedAdditions({ data, dims, include, box }, signal, critical);
  return extractWith(data, dims, spacing, include, box, added, undefined, signal, scratch);
}

function extractWith(
  data: LabelArray,
  dims: Vec3,
  spacing: Vec3,
  include: Uint8Array,
  box: IndexBox,
  added: Map<number, number[]> | undefined,
  critical: CriticalCells | undefined,
  signal: AbortSignal | undefined,
  scratch: SurfaceScratch | undefined,
): SurfaceMesh {
  const [x0, y0, z0] = box.min;
  const [X, Y, Z] = paddedSize(box);
  const CX = X - 1; // cells per row
  const cellsPerSlab = CX * (Y - 1);
  const [sx, sy, sz] = spacing;
  let cellPrev = new Int32Array(cellsPerSlab).fill(-1);
  let cellCur = new Int32Array(cellsPerSlab).fill(-1);

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

  let wz = 0;
  let cz = 0;
  walkMixedCells(
    { data, dims, include, box, added },
    {
      slab: (slab) => {
        cz = slab;
        const t = cellPrev;
        cellPrev = cellCur;
        cellCur = t;
        cellCur.fill(-1);
        wz = (z0 - 1 + slab) * sz;
      },
      cell: (c, cx, cy, config) => {
        if (critical && CRITICAL[config]) critical.cells.push(x0 - 1 + cx, y0 - 1 + cy, z0 - 1 + cz);
        const v = vertexCount++;
        cellCur[c] = v;
        const o = config * 3;
        positions.push3(
          (x0 - 1 + cx + VERTEX_OFFSET[o]) * sx,
          (y0 - 1 + cy + VERTEX_OFFSET[o + 1]) * sy,
          wz + VERTEX_OFFSET[o + 2] * sz,
        );
        const m0 = config & 1;
        // Edge along +x from this cell's first corner: the four cells around it share a quad.
        if (m0 !== ((config >> 1) & 1)) quad(cellPrev[c - CX], cellPrev[c], v, cellCur[c - CX], m0 === 0);
        // Edge along +y.
        if (m0 !== ((config >> 2) & 1)) quad(cellPrev[c - 1], cellCur[c - 1], v, cellPrev[c], m0 === 0);
        // Edge along +z.
        if (m0 !== ((config >> 4) & 1)) quad(cellCur[c - 1 - CX], cellCur[c - CX], v, cellCur[c - 1], m0 === 0);
      },
    },
    signal,
  );
  return { positions: positions.finish(), indices: indices.finish() };
}

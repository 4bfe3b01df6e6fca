import type { Vec3 } from '../volume/volume.ts';
import type { SurfaceMesh } from './surfaceNets.ts';

export interface SmoothOptions {
  /** Taubin lambda/mu pairs. */
  iterations?: number;
  lambda?: number;
  mu?: number;
}

/**
 * Taubin lambda|mu smoothing (Taubin 1995), each vertex kept inside the voxel cell it came from
 * (Frisken's "constrained elastic surface nets"). Taubin's alternating shrink/inflate step is a
 * low-pass filter that does not shrink the surface as plain Laplacian smoothing does, and the cell
 * constraint keeps the result within half a voxel of the segmentation, so thin structures (ribs,
 * vessels) cannot melt away. Hand-written: the step is a few lines over a CSR adjacency, and no npm
 * package smooths typed-array meshes of millions of vertices without building per-vertex objects.
 * Only vertices move: the mesh's connectivity, and so its manifoldness, is unchanged.
 *
 * Works in place on `mesh.positions` (grid millimetres, see SurfaceMesh).
 */
export function smoothSurface(
  mesh: SurfaceMesh,
  spacing: Vec3,
  options: SmoothOptions = {},
  signal?: AbortSignal,
): void {
  const iterations = options.iterations ?? 20;
  const lambda = options.lambda ?? 0.5;
  const mu = options.mu ?? -0.53;
  const { positions, indices } = mesh;
  const nv = positions.length / 3;
  if (nv === 0 || iterations <= 0) return;

  // CSR adjacency from the directed triangle edges a->b, b->c, c->a. On a closed mesh every
  // undirected edge appears once in each direction, so out-edges alone list all neighbours once.
  const offsets = new Uint32Array(nv + 1);
  for (let t = 0; t < indices.length; t++) offsets[indices[t] + 1]++;
  for (let v = 0; v < nv; v++) offsets[v + 1] += offsets[v];
  const fill = offsets.slice(0, nv);
  const neighbours = new Uint32Array(indices.length);
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t];
    const b = indices[t + 1];
    const c = indices[t + 2];
    neighbours[fill[a]++] = b;
    neighbours[fill[b]++] = c;
    neighbours[fill[c]++] = a;
  }

  // The lower corner of each vertex's cell; vertices start strictly inside their cell.
  const [sx, sy, sz] = spacing;
  const lo = new Float64Array(3 * nv);
  for (let p = 0; p < 3 * nv; p += 3) {
    lo[p] = Math.floor(positions[p] / sx) * sx;
    lo[p + 1] = Math.floor(positions[p + 1] / sy) * sy;
    lo[p + 2] = Math.floor(positions[p + 2] / sz) * sz;
  }
  let src = Float64Array.from(positions);
  let dst = new Float64Array(3 * nv);

  const pass = (factor: number): void => {
    for (let v = 0, p = 0; v < nv; v++, p += 3) {
      const start = offsets[v];
      const end = offsets[v + 1];
      const x = src[p];
      const y = src[p + 1];
      const z = src[p + 2];
      if (end === start) {
        dst[p] = x;
        dst[p + 1] = y;
        dst[p + 2] = z;
        continue;
      }
      let mx = 0;
      let my = 0;
      let mz = 0;
      for (let k = start; k < end; k++) {
        const q = neighbours[k] * 3;
        mx += src[q];
        my += src[q + 1];
        mz += src[q + 2];
      }
      const inv = 1 / (end - start);
      const nx = x + factor * (mx * inv - x);
      const ny = y + factor * (my * inv - y);
      const nz = z + factor * (mz * inv - z);
      const lx = lo[p];
      const ly = lo[p + 1];
      const lz = lo[p + 2];
      dst[p] = nx < lx ? lx : nx > lx + sx ? lx + sx : nx;
      dst[p + 1] = ny < ly ? ly : ny > ly + sy ? ly + sy : ny;
      dst[p + 2] = nz < lz ? lz : nz > lz + sz ? lz + sz : nz;
    }
    const t = src;
    src = dst;
    dst = t;
  };
  for (let i = 0; i < iterations; i++) {
    if (signal && (i & 3) === 0) signal.throwIfAborted();
    pass(lambda);
    pass(mu);
  }
  positions.set(src);
}

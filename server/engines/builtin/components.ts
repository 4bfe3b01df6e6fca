import type { Vec3 } from '../../volume/volume.ts';
import { GrowableUint32 } from '../../mesh/growable.ts';

/**
 * 6-connected component labelling of a binary mask, on runs rather than voxels (He et al.,
 * "run-based two-scan labeling"): each row's runs of set voxels are unioned with the overlapping
 * runs of the row above and the slice below. A CT body mask of 78 M voxels has only a few hundred
 * thousand runs, so the union-find is small and no per-voxel label array (300 MB as Int32) is needed.
 * Hand-written: no npm package labels 3D typed-array masks without per-voxel arrays or objects.
 */
export interface Components {
  dims: Vec3;
  /** Per run: start x, end x (exclusive), row (z * ny + y). */
  runs: Uint32Array;
  /** Component id (0..count-1) per run. */
  runComponent: Uint32Array;
  /** Voxels per component. */
  sizes: Float64Array;
  count: number;
}

function find(parent: Uint32Array, a: number): number {
  let r = a;
  while (parent[r] !== r) r = parent[r];
  while (parent[a] !== r) {
    const next = parent[a];
    parent[a] = r;
    a = next;
  }
  return r;
}

export function labelComponents(mask: Uint8Array, dims: Vec3, signal?: AbortSignal): Components {
  const [nx, ny, nz] = dims;
  const rows = ny * nz;
  const builder = new GrowableUint32(1 << 16);
  const rowFirst = new Uint32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    if (signal && (r & 4095) === 0) signal.throwIfAborted();
    rowFirst[r] = builder.length / 3;
    const base = r * nx;
    let x = 0;
    while (x < nx) {
      // Skip zeros quickly; most rows are mostly empty or mostly full.
      while (x < nx && mask[base + x] === 0) x++;
      if (x >= nx) break;
      const start = x;
      while (x < nx && mask[base + x] !== 0) x++;
      builder.push3(start, x, r);
    }
  }
  rowFirst[rows] = builder.length / 3;
  const runs = builder.finish();
  const nRuns = runs.length / 3;
  const parent = new Uint32Array(nRuns);
  for (let i = 0; i < nRuns; i++) parent[i] = i;

  const unionRows = (r: number, other: number): void => {
    let a = rowFirst[r];
    const aEnd = rowFirst[r + 1];
    let b = rowFirst[other];
    const bEnd = rowFirst[other + 1];
    while (a < aEnd && b < bEnd) {
      const as = runs[a * 3];
      const ae = runs[a * 3 + 1];
      const bs = runs[b * 3];
      const be = runs[b * 3 + 1];
      if (as < be && bs < ae) {
        const ra = find(parent, a);
        const rb = find(parent, b);
        if (ra !== rb) {
          if (ra < rb) parent[rb] = ra;
          else parent[ra] = rb;
        }
      }
      if (ae < be) a++;
      else b++;
    }
  };
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const r = z * ny + y;
      if (rowFirst[r] === rowFirst[r + 1]) continue;
      if (y > 0) unionRows(r, r - 1);
      if (z > 0) unionRows(r, r - ny);
    }
  }

  const runComponent = new Uint32Array(nRuns);
  const rootId = new Int32Array(nRuns).fill(-1);
  let count = 0;
  for (let i = 0; i < nRuns; i++) {
    const root = find(parent, i);
    if (rootId[root] < 0) rootId[root] = count++;
    runComponent[i] = rootId[root];
  }
  const sizes = new Float64Array(count);
  for (let i = 0; i < nRuns; i++) sizes[runComponent[i]] += runs[i * 3 + 1] - runs[i * 3];
  return { dims: [nx, ny, nz], runs, runComponent, sizes, count };
}

/** Writes `value` into `out` for every voxel of the components where `keep[id]` is 1. */
export function paintComponents(c: Components, keep: Uint8Array, out: Uint8Array, value: number): void {
  const nx = c.dims[0];
  const { runs, runComponent } = c;
  for (let i = 0; i < runComponent.length; i++) {
    if (!keep[runComponent[i]]) continue;
    const base = runs[i * 3 + 2] * nx;
    out.fill(value, base + runs[i * 3], base + runs[i * 3 + 1]);
  }
}

/** Index of the largest component, or -1 when there is none. */
export function largestComponent(c: Components): number {
  let best = -1;
  for (let i = 0; i < c.count; i++) if (best < 0 || c.sizes[i] > c.sizes[best]) best = i;
  return best;
}

/**
 * Fills, in every plane across `axis`, the background regions that do not reach the plane's
 * border: cavities enclosed in that plane. Done per slice (as radiology tools do) so the lungs
 * count as inside the body even though the trachea leaves the scanned volume at the top.
 * Sets `fillValue` in `mask` where `mask` is 0 and the voxel is enclosed.
 */
export function fillHolesPerSlice(mask: Uint8Array, dims: Vec3, axis: 0 | 1 | 2, fillValue: number, signal?: AbortSignal): void {
  const [nx, ny] = dims;
  const strides: Vec3 = [1, nx, nx * ny];
  // The two in-plane axes, the first one contiguous when possible.
  const [u, v] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
  const nu = dims[u];
  const nv = dims[v];
  const su = strides[u];
  const sv = strides[v];
  const plane = new Uint8Array(nu * nv);
  const planeDims: Vec3 = [nu, nv, 1];
  for (let w = 0; w < dims[axis]; w++) {
    if (signal && (w & 31) === 0) signal.throwIfAborted();
    const base = w * strides[axis];
    // Background of this plane.
    for (let b = 0; b < nv; b++) for (let a = 0; a < nu; a++) plane[b * nu + a] = mask[base + a * su + b * sv] === 0 ? 1 : 0;
    const c = labelComponents(plane, planeDims);
    if (c.count === 0) continue;
    const touches = new Uint8Array(c.count);
    for (let i = 0; i < c.runComponent.length; i++) {
      const start = c.runs[i * 3];
      const end = c.runs[i * 3 + 1];
      const row = c.runs[i * 3 + 2];
      if (start === 0 || end === nu || row === 0 || row === nv - 1) touches[c.runComponent[i]] = 1;
    }
    for (let i = 0; i < c.runComponent.length; i++) {
      if (touches[c.runComponent[i]]) continue;
      const row = c.runs[i * 3 + 2];
      for (let a = c.runs[i * 3]; a < c.runs[i * 3 + 1]; a++) mask[base + a * su + row * sv] = fillValue;
    }
  }
}

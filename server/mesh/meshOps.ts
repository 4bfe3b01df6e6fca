import { MeshoptSimplifier } from 'meshoptimizer';
import type { Mat3, Vec3 } from '../volume/volume.ts';
import { dropBackToBackPairs } from './backToBack.ts';
import { nonManifoldPlaces } from './manifold.ts';
import type { SurfaceMesh } from './surfaceNets.ts';

/** Small operations on indexed triangle meshes held in typed arrays. */

export function triangleCount(mesh: SurfaceMesh): number {
  return mesh.indices.length / 3;
}

function determinant(m: Mat3): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/**
 * Grid millimetres (index times spacing) to LPS millimetres: `origin + direction * p`. A direction
 * matrix with a negative determinant (a mirrored grid, common in NIfTI) would turn the mesh inside
 * out, so the winding is flipped to keep the normals pointing outward.
 */
export function gridToLps(mesh: SurfaceMesh, origin: Vec3, direction: Mat3): void {
  const p = mesh.positions;
  const [d0, d1, d2, d3, d4, d5, d6, d7, d8] = direction;
  const [ox, oy, oz] = origin;
  for (let i = 0; i < p.length; i += 3) {
    const x = p[i];
    const y = p[i + 1];
    const z = p[i + 2];
    p[i] = ox + d0 * x + d1 * y + d2 * z;
    p[i + 1] = oy + d3 * x + d4 * y + d5 * z;
    p[i + 2] = oz + d6 * x + d7 * y + d8 * z;
  }
  if (determinant(direction) < 0) {
    const idx = mesh.indices;
    for (let t = 0; t < idx.length; t += 3) {
      const b = idx[t + 1];
      idx[t + 1] = idx[t + 2];
      idx[t + 2] = b;
    }
  }
}

/**
 * Removes `reduction` (0..1) of the triangles with meshoptimizer's quadric edge-collapse
 * simplifier (the same family as Slicer's default FastQuadric decimation), then drops the
 * vertices no triangle uses any more. A closed 2-manifold stays one (see decimateNow).
 */
export async function decimate(mesh: SurfaceMesh, reduction: number): Promise<SurfaceMesh> {
  await MeshoptSimplifier.ready;
  return decimateNow(mesh, reduction);
}

/** Rounds of decimation with more vertices locked before the surface is kept undecimated. */
const MANIFOLD_ROUNDS = 4;

/**
 * decimate, once meshoptimizer is ready (`await MeshoptSimplifier.ready`): no await in between.
 * meshoptimizer does not check the link condition, so a collapse in a thin or tightly folded place
 * can pinch the surface (an edge in four triangles, two sheets at one vertex), which a 3D printer's
 * slicer has to repair. A flap flattened to two back-to-back triangles is dropped (backToBack.ts);
 * around any other such place the input's vertices are locked and the connected parts holding the
 * places decimated again, the locked rings wider each round, while the other parts keep their first
 * decimation; in the end a part that still pinches is kept undecimated, a 2-manifold. (An edge in
 * four triangles is not split where it is: its two copies would lie closer than matchVolume later
 * moves each of them, and the sheets would pass through each other.)
 */
export function decimateNow(mesh: SurfaceMesh, reduction: number): SurfaceMesh {
  const triangles = triangleCount(mesh);
  if (reduction <= 0 || triangles < 64) return mesh;
  const targetTriangles = Math.max(16, Math.floor(triangles * (1 - reduction)));
  const vertexCount = mesh.positions.length / 3;
  // No error bound: the triangle budget decides, as OpenAnatomy's reduction factor does.
  const first = withoutFlaps(
    MeshoptSimplifier.simplify(mesh.indices, mesh.positions, 3, targetTriangles * 3, 1, [])[0],
    vertexCount,
  );
  if (first.places.length === 0) return compact({ positions: mesh.positions, indices: first.indices });
  // Collapses never join two connected parts, so the parts without a pinch keep their first
  // decimation and their share of the budget; only the pinched parts are decimated again.
  const rings = vertexRings(mesh.indices, vertexCount);
  const pinched = partsHolding(rings, first.places, vertexCount);
  const kept = trianglesWhere(first.indices, pinched, 0);
  const part = { positions: mesh.positions, indices: trianglesWhere(mesh.indices, pinched, 1) };
  const partTarget = Math.max(16, targetTriangles - kept.length / 3);
  const lock = new Uint8Array(vertexCount);
  let places = first.places;
  for (let round = 1; round < MANIFOLD_ROUNDS; round++) {
    lockAround(rings, lock, places, 3 << (round - 1));
    const again = withoutFlaps(simplifyAround(part, lock, partTarget), vertexCount);
    if (again.places.length === 0) return compact({ positions: mesh.positions, indices: joined(again.indices, kept) });
    places = again.places;
  }
  return compact({ positions: mesh.positions, indices: joined(part.indices, kept) });
}

/** A decimation's triangles without flattened flaps (backToBack.ts), and the places it still pinches. */
function withoutFlaps(indices: Uint32Array, vertexCount: number): { indices: Uint32Array; places: number[] } {
  let places = nonManifoldPlaces(indices, vertexCount);
  if (places.length === 0) return { indices, places };
  const unfolded = dropBackToBackPairs(indices, vertexCount, places);
  if (!unfolded) return { indices, places };
  places = nonManifoldPlaces(unfolded, vertexCount);
  return { indices: unfolded, places };
}

/** 1 for every vertex connected to one of `places`, 0 elsewhere. */
function partsHolding(rings: VertexRings, places: number[], vertexCount: number): Uint8Array {
  const inPart = new Uint8Array(vertexCount);
  const stack = places.filter((v) => {
    if (inPart[v]) return false;
    inPart[v] = 1;
    return true;
  });
  while (stack.length > 0) {
    const v = stack.pop() as number;
    for (let k = rings.first[v]; k < rings.first[v + 1]; k++) {
      const w = rings.neighbours[k];
      if (inPart[w]) continue;
      inPart[w] = 1;
      stack.push(w);
    }
  }
  return inPart;
}

/** The triangles whose corners have `mark[corner] === want` (a triangle's corners lie in one part). */
function trianglesWhere(indices: Uint32Array, mark: Uint8Array, want: number): Uint32Array {
  let count = 0;
  for (let t = 0; t < indices.length; t += 3) if (mark[indices[t]] === want) count++;
  const out = new Uint32Array(count * 3);
  for (let t = 0, o = 0; t < indices.length; t += 3) {
    if (mark[indices[t]] !== want) continue;
    out[o++] = indices[t];
    out[o++] = indices[t + 1];
    out[o++] = indices[t + 2];
  }
  return out;
}

function joined(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Decimates all but the triangles whose corners are all locked, which are kept as they are; the
 * seam between the two parts stays put ('LockBorder'), so they join again.
 */
function simplifyAround(mesh: SurfaceMesh, lock: Uint8Array, targetTriangles: number): Uint32Array {
  const { indices } = mesh;
  const locked = (t: number): number => lock[indices[t]] & lock[indices[t + 1]] & lock[indices[t + 2]];
  let kept = 0;
  for (let t = 0; t < indices.length; t += 3) kept += locked(t);
  const rest = new Uint32Array(indices.length - kept * 3);
  const fixed = new Uint32Array(kept * 3);
  for (let t = 0, r = 0, f = 0; t < indices.length; t += 3) {
    if (locked(t)) {
      fixed.set(indices.subarray(t, t + 3), f);
      f += 3;
    } else {
      rest.set(indices.subarray(t, t + 3), r);
      r += 3;
    }
  }
  // The rest of the budget, after the locked triangles; but never under half the whole's proportion:
  // after a large locked region the rest could be nothing, and meshoptimizer then flattens the part
  // onto its seam (a 107 mL kidney came out at 5 mL).
  const total = indices.length / 3;
  const proportional = ((total - kept) * targetTriangles) / total;
  const target = Math.floor(Math.max(targetTriangles - kept, proportional / 2)) * 3;
  const [reduced] = MeshoptSimplifier.simplify(rest, mesh.positions, 3, target, 1, ['LockBorder']);
  const out = new Uint32Array(reduced.length + fixed.length);
  out.set(reduced);
  out.set(fixed, reduced.length);
  return out;
}

/** Each vertex's neighbours, as compressed rows. */
interface VertexRings {
  first: Uint32Array;
  neighbours: Uint32Array;
}

function vertexRings(indices: Uint32Array, vertexCount: number): VertexRings {
  const first = new Uint32Array(vertexCount + 1);
  for (let i = 0; i < indices.length; i++) first[indices[i] + 1] += 2;
  for (let v = 0; v < vertexCount; v++) first[v + 1] += first[v];
  const fill = first.slice(0, vertexCount);
  const neighbours = new Uint32Array(first[vertexCount]);
  for (let t = 0; t < indices.length; t += 3) {
    for (let e = 0; e < 3; e++) {
      const a = indices[t + e];
      neighbours[fill[a]++] = indices[t + ((e + 1) % 3)];
      neighbours[fill[a]++] = indices[t + ((e + 2) % 3)];
    }
  }
  return { first, neighbours };
}

/** Locks every vertex within `depth` edges of `places`. */
function lockAround(rings: VertexRings, lock: Uint8Array, places: number[], depth: number): void {
  let front = places.filter((v) => !lock[v]);
  for (const v of front) lock[v] = 1;
  for (let d = 0; d < depth && front.length > 0; d++) {
    const next: number[] = [];
    for (const v of front) {
      for (let k = rings.first[v]; k < rings.first[v + 1]; k++) {
        const w = rings.neighbours[k];
        if (lock[w]) continue;
        lock[w] = 1;
        next.push(w);
      }
    }
    front = next;
  }
}

/** Renumbers vertices in first-use order and drops unused ones. */
export function compact(mesh: SurfaceMesh): SurfaceMesh {
  const nv = mesh.positions.length / 3;
  const remap = new Uint32Array(nv).fill(0xffffffff);
  const indices = new Uint32Array(mesh.indices.length);
  let next = 0;
  for (let i = 0; i < mesh.indices.length; i++) {
    const v = mesh.indices[i];
    let r = remap[v];
    if (r === 0xffffffff) {
      r = next++;
      remap[v] = r;
    }
    indices[i] = r;
  }
  const positions = new Float32Array(next * 3);
  const src = mesh.positions;
  for (let v = 0; v < nv; v++) {
    const r = remap[v];
    if (r === 0xffffffff) continue;
    positions[r * 3] = src[v * 3];
    positions[r * 3 + 1] = src[v * 3 + 1];
    positions[r * 3 + 2] = src[v * 3 + 2];
  }
  return { positions, indices };
}

/** Area-weighted vertex normals, unit length (glTF requires it); isolated or degenerate vertices get +Z. */
export function vertexNormals(mesh: SurfaceMesh): Float32Array {
  const { positions: p, indices: idx } = mesh;
  const n = new Float32Array(p.length);
  for (let t = 0; t < idx.length; t += 3) {
    const a = idx[t] * 3;
    const b = idx[t + 1] * 3;
    const c = idx[t + 2] * 3;
    const ux = p[b] - p[a];
    const uy = p[b + 1] - p[a + 1];
    const uz = p[b + 2] - p[a + 2];
    const vx = p[c] - p[a];
    const vy = p[c + 1] - p[a + 1];
    const vz = p[c + 2] - p[a + 2];
    // The cross product's length is twice the area: summing it weights by area.
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    n[a] += nx;
    n[a + 1] += ny;
    n[a + 2] += nz;
    n[b] += nx;
    n[b + 1] += ny;
    n[b + 2] += nz;
    n[c] += nx;
    n[c + 1] += ny;
    n[c + 2] += nz;
  }
  for (let i = 0; i < n.length; i += 3) {
    // Math.sqrt, not Math.hypot: hypot's overflow care is not needed for millimetre sums and is
    // several times slower in V8 (this runs up to five times per structure, see matchVolume); with
    // the same change in matchVolume the benchmark's finish step went from 0.38 s to 0.23 s of thread time.
    const len = Math.sqrt(n[i] * n[i] + n[i + 1] * n[i + 1] + n[i + 2] * n[i + 2]);
    if (len > 1e-20) {
      n[i] /= len;
      n[i + 1] /= len;
      n[i + 2] /= len;
    } else {
      n[i] = 0;
      n[i + 1] = 0;
      n[i + 2] = 1;
    }
  }
  return n;
}

/** Enclosed volume (mm³, by the divergence theorem); positive when the winding is outward. */
export function signedVolume(mesh: SurfaceMesh): number {
  const { positions: p, indices: idx } = mesh;
  let sum = 0;
  for (let t = 0; t < idx.length; t += 3) {
    const a = idx[t] * 3;
    const b = idx[t + 1] * 3;
    const c = idx[t + 2] * 3;
    sum +=
      p[a] * (p[b + 1] * p[c + 2] - p[b + 2] * p[c + 1]) -
      p[a + 1] * (p[b] * p[c + 2] - p[b + 2] * p[c]) +
      p[a + 2] * (p[b] * p[c + 1] - p[b + 1] * p[c]);
  }
  return sum / 6;
}

export function bounds(positions: Float32Array): { min: Vec3; max: Vec3 } {
  const min: Vec3 = [Infinity, Infinity, Infinity];
  const max: Vec3 = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < positions.length; i += 3) {
    for (let k = 0; k < 3; k++) {
      const v = positions[i + k];
      if (v < min[k]) min[k] = v;
      if (v > max[k]) max[k] = v;
    }
  }
  return { min, max };
}

/**
 * Counts edges that are not matched by an edge in the opposite direction: 0 for a closed,
 * consistently wound surface. Used by tests and as a sanity check.
 */
export function unmatchedEdges(mesh: SurfaceMesh): number {
  const counts = new Map<string, number>();
  const idx = mesh.indices;
  const add = (a: number, b: number): void => {
    const key = a < b ? `${a},${b}` : `${b},${a}`;
    counts.set(key, (counts.get(key) ?? 0) + (a < b ? 1 : -1));
  };
  for (let t = 0; t < idx.length; t += 3) {
    add(idx[t], idx[t + 1]);
    add(idx[t + 1], idx[t + 2]);
    add(idx[t + 2], idx[t]);
  }
  let bad = 0;
  for (const c of counts.values()) if (c !== 0) bad++;
  return bad;
}

/**
 * Moves every vertex along its normal by one common distance so the enclosed volume matches
 * `targetMm3` (the segmentation's voxel volume). An isosurface cuts the corners of every voxel
 * edge, so thin structures (pancreas, ribs at 3 mm voxels) lose 10-20% of their volume; this puts
 * it back without changing the shape. The offset is limited to `maxOffset` mm.
 */
export function matchVolume(mesh: SurfaceMesh, targetMm3: number, maxOffset: number): void {
  for (let round = 0; round < 4; round++) {
    const volume = signedVolume(mesh);
    const { positions: p, indices: idx } = mesh;
    let area = 0;
    for (let t = 0; t < idx.length; t += 3) {
      const a = idx[t] * 3;
      const b = idx[t + 1] * 3;
      const c = idx[t + 2] * 3;
      const ux = p[b] - p[a],
        uy = p[b + 1] - p[a + 1],
        uz = p[b + 2] - p[a + 2];
      const vx = p[c] - p[a],
        vy = p[c + 1] - p[a + 1],
        vz = p[c + 2] - p[a + 2];
      const cx = uy * vz - uz * vy,
        cy = uz * vx - ux * vz,
        cz = ux * vy - uy * vx;
      area += Math.sqrt(cx * cx + cy * cy + cz * cz) / 2;
    }
    if (area <= 0 || volume <= 0) return;
    const offset = Math.max(-maxOffset, Math.min(maxOffset, (targetMm3 - volume) / area));
    if (Math.abs(offset) < 1e-4) return;
    const n = vertexNormals(mesh);
    for (let i = 0; i < p.length; i++) p[i] += offset * n[i];
  }
}

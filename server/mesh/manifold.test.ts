import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vec3 } from '../volume/volume.ts';
import { MeshoptSimplifier } from 'meshoptimizer';
import { rng } from '../../test/support/syntheticCt.ts';
import { dropBackToBackPairs } from './backToBack.ts';
import {
  isPrintable,
  manifoldReport,
  nonManifoldPlaces,
  weldedManifoldReport,
  type ManifoldReport,
} from './manifold.ts';
import { decimate, signedVolume } from './meshOps.ts';
import { smoothSurface } from './smooth.ts';
import { extractSurface, type SurfaceMesh } from './surfaceNets.ts';
import { additionCount, CRITICAL, FIX, wellComposedAdditions } from './wellComposed.ts';

const CLEAN: ManifoldReport = {
  nonManifoldEdges: 0,
  repeatedDirectedEdges: 0,
  nonManifoldVertices: 0,
  degenerateTriangles: 0,
};

interface Mask {
  data: Uint8Array;
  dims: Vec3;
}

function emptyMask(dims: Vec3): Mask {
  return { data: new Uint8Array(dims[0] * dims[1] * dims[2]), dims };
}

function set(mask: Mask, x: number, y: number, z: number, value = 1): void {
  mask.data[(z * mask.dims[1] + y) * mask.dims[0] + x] = value;
}

function block(mask: Mask, min: Vec3, size: number, value = 1): void {
  for (let z = min[2]; z < min[2] + size; z++)
    for (let y = min[1]; y < min[1] + size; y++) for (let x = min[0]; x < min[0] + size; x++) set(mask, x, y, z, value);
}

const INCLUDE = (() => {
  const include = new Uint8Array(256);
  include[1] = 1;
  return include;
})();

function boxOf(mask: Mask): { min: Vec3; max: Vec3 } {
  const min: Vec3 = [Infinity, Infinity, Infinity];
  const max: Vec3 = [-Infinity, -Infinity, -Infinity];
  const [nx, ny, nz] = mask.dims;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        if (!mask.data[(z * ny + y) * nx + x]) continue;
        const p = [x, y, z];
        for (let k = 0; k < 3; k++) {
          min[k] = Math.min(min[k], p[k]);
          max[k] = Math.max(max[k], p[k]);
        }
      }
  return { min, max };
}

/** Critical cells of the mask with `additions` applied, counted voxel by voxel (no shared code with the walk). */
function criticalCells(mask: Mask, additions: Map<number, number[]> | undefined): number {
  const [nx, ny, nz] = mask.dims;
  const inside = Uint8Array.from(mask.data, (v) => (v === 1 ? 1 : 0));
  for (const [z, list] of additions ?? []) for (const i of list) inside[z * nx * ny + i] = 1;
  const at = (x: number, y: number, z: number): number =>
    x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz ? 0 : inside[(z * ny + y) * nx + x];
  let critical = 0;
  for (let z = -1; z < nz; z++)
    for (let y = -1; y < ny; y++)
      for (let x = -1; x < nx; x++) {
        let config = 0;
        for (let b = 0; b < 8; b++) config |= at(x + (b & 1), y + ((b >> 1) & 1), z + (b >> 2)) << b;
        critical += CRITICAL[config];
      }
  return critical;
}

function surface(mask: Mask): SurfaceMesh {
  const mesh = extractSurface(mask.data, mask.dims, [1, 1, 1], INCLUDE, boxOf(mask));
  return { positions: mesh.positions.slice(), indices: mesh.indices.slice() };
}

function report(mesh: SurfaceMesh): ManifoldReport {
  return manifoldReport(mesh.indices, mesh.positions.length / 3);
}

/** The surface of `mask` is closed, 2-manifold and outward, raw, smoothed and decimated. */
async function assertPrintable(mask: Mask, what: string): Promise<void> {
  const additions = wellComposedAdditions({ data: mask.data, dims: mask.dims, include: INCLUDE, box: boxOf(mask) });
  assert.equal(criticalCells(mask, additions), 0, `${what}: well-composed once the additions are made`);
  const mesh = surface(mask);
  assert.deepEqual(report(mesh), CLEAN, `${what}: surface nets`);
  assert.ok(signedVolume(mesh) > 0, `${what}: outward`);
  smoothSurface(mesh, [1, 1, 1]);
  assert.deepEqual(report(mesh), CLEAN, `${what}: smoothed`);
  for (const reduction of [0.5, 0.9]) {
    const reduced = await decimate(mesh, reduction);
    assert.deepEqual(report(reduced), CLEAN, `${what}: decimated by ${reduction}`);
    assert.ok(signedVolume(reduced) > 0, `${what}: outward after decimation by ${reduction}`);
    // Tiny shapes lose much at 90% (a few dozen triangles are left); at half, the shape stays.
    const change = Math.abs(signedVolume(reduced) / signedVolume(mesh) - 1);
    if (reduction === 0.5)
      assert.ok(change < 0.25, `${what}: halved, the volume changed by ${(change * 100).toFixed(0)}%`);
  }
}

test('the manifold check finds holes, fins, pinched vertices and flipped triangles', () => {
  // A tetrahedron, outward.
  const tet = [0, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2];
  assert.deepEqual(manifoldReport(tet, 4), CLEAN);
  assert.ok(isPrintable(manifoldReport(tet, 4)));
  // One face missing: three rim edges.
  assert.equal(manifoldReport(tet.slice(3), 4).nonManifoldEdges, 3);
  // One face flipped: its three edges run the same way as their neighbours'.
  assert.equal(manifoldReport([0, 1, 2, ...tet.slice(3)], 4).repeatedDirectedEdges, 3);
  // Two tetrahedra sharing the edge 0-1: it lies in four triangles.
  const fin = [...tet, 0, 5, 1, 0, 1, 4, 1, 5, 4, 0, 4, 5];
  assert.equal(manifoldReport(fin, 6).nonManifoldEdges, 1);
  // Two tetrahedra sharing only vertex 0: every edge is fine, the vertex is not.
  const pinch = [...tet, 0, 5, 4, 0, 4, 6, 4, 5, 6, 0, 6, 5];
  const pinched = manifoldReport(pinch, 7);
  assert.equal(pinched.nonManifoldEdges, 0);
  assert.equal(pinched.nonManifoldVertices, 1);
  // Vertices at one position count as one once welded (as a file read back is checked).
  const positions = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0];
  assert.equal(weldedManifoldReport(positions, [4, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2]).nonManifoldEdges, 0);
  assert.equal(manifoldReport([4, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2], 5).nonManifoldEdges, 4);
});

test('the critical configurations are the edge- and corner-touching ones, and each fix removes them', () => {
  // 6 faces x 2 diagonals with the other two corners free: C1; plus 4 body diagonals, each both ways: C2.
  const faceCheckerboard = (c: number): boolean =>
    [1, 2, 4].some((axis) => {
      const [u, v] = [1, 2, 4].filter((b) => b !== axis);
      return [0, axis].some((s) => {
        const bit = (k: number): number => (c >> k) & 1;
        return bit(s) === bit(s | u | v) && bit(s | u) === bit(s | v) && bit(s) !== bit(s | u);
      });
    });
  let c2 = 0;
  for (let c = 0; c < 256; c++) {
    const diagonal = [0, 1, 2, 3].some(
      (b) => c === ((1 << b) | (1 << (7 - b))) || c === (255 ^ ((1 << b) | (1 << (7 - b)))),
    );
    if (diagonal) c2++;
    assert.equal(CRITICAL[c] === 1, faceCheckerboard(c) || diagonal, `configuration ${c}`);
    if (CRITICAL[c]) {
      assert.ok(FIX[c] !== 0 && (FIX[c] & c) === 0, `configuration ${c} gets corners added`);
      assert.equal(CRITICAL[c | FIX[c]], 0, `configuration ${c} is fixed`);
    }
  }
  assert.equal(c2, 8);
});

test('every cell configuration, alone in a grid, meshes to a printable surface', async () => {
  for (let config = 1; config < 256; config++) {
    const mask = emptyMask([4, 4, 4]);
    for (let b = 0; b < 8; b++) if ((config >> b) & 1) set(mask, 1 + (b & 1), 1 + ((b >> 1) & 1), 1 + (b >> 2));
    await assertPrintable(mask, `configuration ${config}`);
  }
});

test('blocks and holes touching along an edge or at a corner mesh to printable surfaces', async () => {
  const offsets: Array<[string, Vec3]> = [];
  // Along an edge: one coordinate shared, two diagonal (each plane, both diagonals).
  for (const [a, b] of [
    [0, 1],
    [0, 2],
    [1, 2],
  ]) {
    for (const sign of [1, -1]) {
      const d: Vec3 = [0, 0, 0];
      d[a] = 3;
      d[b] = 3 * sign;
      offsets.push([`edge ${'xyz'[a]}${'xyz'[b]}${sign > 0 ? '+' : '-'}`, d]);
    }
  }
  // At a corner: the four body diagonals.
  for (const [sy, sz] of [
    [1, 1],
    [1, -1],
    [-1, 1],
    [-1, -1],
  ]) {
    offsets.push([`corner ${sy}${sz}`, [3, 3 * sy, 3 * sz]]);
  }
  for (const [name, d] of offsets) {
    const solid = emptyMask([12, 12, 12]);
    block(solid, [3, 3, 3], 3);
    block(solid, [3 + d[0], 3 + d[1], 3 + d[2]], 3);
    const before = wellComposedAdditions({ data: solid.data, dims: solid.dims, include: INCLUDE, box: boxOf(solid) });
    assert.ok(additionCount(before) > 0, `${name}: the touching blocks are not well-composed as drawn`);
    assert.ok(additionCount(before) <= 3, `${name}: few voxels join them (${additionCount(before)})`);
    await assertPrintable(solid, `blocks, ${name}`);
    // The same with two holes in a solid block (the background touching along an edge or at a corner).
    const holes = emptyMask([16, 16, 16]);
    block(holes, [1, 1, 1], 14);
    block(holes, [5, 5, 5], 3, 0);
    block(holes, [5 + d[0], 5 + d[1], 5 + d[2]], 3, 0);
    await assertPrintable(holes, `holes, ${name}`);
  }
});

test('random masks of every density (every configuration many times over) mesh to printable surfaces', async () => {
  for (const [seed, density] of [
    [1, 0.08],
    [2, 0.25],
    [3, 0.5],
    [4, 0.75],
    [5, 0.92],
  ]) {
    const random = rng(seed);
    const mask = emptyMask([18, 17, 16]);
    for (let z = 1; z < 15; z++)
      for (let y = 1; y < 16; y++) for (let x = 1; x < 17; x++) if (random() < density) set(mask, x, y, z);
    // Other labels in the grid are background for this surface.
    set(mask, 0, 0, 0, 2);
    assert.ok(criticalCells(mask, undefined) > 0, `density ${density}: critical cells as drawn`);
    await assertPrintable(mask, `random mask, density ${density}`);
  }
});

/** The triangles of `mesh` whose first corner has x above `fromX`, as corner positions, sorted. */
function trianglesBeyond(mesh: SurfaceMesh, indices: Uint32Array, fromX: number): string[] {
  const p = mesh.positions;
  const out: string[] = [];
  for (let t = 0; t < indices.length; t += 3) {
    if (p[indices[t] * 3] <= fromX) continue;
    const corners = [0, 1, 2].map((k) => Array.from(p.subarray(indices[t + k] * 3, indices[t + k] * 3 + 3)).join(','));
    out.push(corners.join(' '));
  }
  return out.sort();
}

test('a part the decimation pinches is decimated again alone; the other parts keep their first decimation', async () => {
  const mask = emptyMask([44, 18, 18]);
  const random = rng(1);
  for (let z = 1; z < 17; z++)
    for (let y = 1; y < 17; y++) for (let x = 1; x < 17; x++) if (random() < 0.25) set(mask, x, y, z);
  block(mask, [24, 2, 2], 14);
  const mesh = surface(mask);
  smoothSurface(mesh, [1, 1, 1]);
  const triangles = mesh.indices.length / 3;
  const target = Math.floor(triangles / 2);
  await MeshoptSimplifier.ready;
  const [once] = MeshoptSimplifier.simplify(mesh.indices, mesh.positions, 3, target * 3, 1, []);
  // Pinched, and not only where a flap flattened (those are dropped without decimating again).
  const vertexCount = mesh.positions.length / 3;
  const unfolded = dropBackToBackPairs(once, vertexCount, nonManifoldPlaces(once, vertexCount)) ?? once;
  assert.ok(nonManifoldPlaces(unfolded, vertexCount).length > 0, 'one pass pinches the random part');
  const blockOnce = trianglesBeyond(mesh, once, 20);
  assert.ok(
    blockOnce.length < trianglesBeyond(mesh, mesh.indices, 20).length * 0.75,
    'the block is decimated in that pass',
  );

  const reduced = await decimate(mesh, 0.5);
  assert.deepEqual(report(reduced), CLEAN);
  // The block, which the first pass did not pinch, is exactly as that pass left it.
  assert.deepEqual(trianglesBeyond(reduced, reduced.indices, 20), blockOnce);
  // Where a pinched part cannot be decimated without pinching, only that part is left undecimated.
  assert.ok(reduced.indices.length < mesh.indices.length, 'the whole is not left undecimated');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Mat3, Vec3 } from '../volume/volume.ts';
import { extractSurface } from './surfaceNets.ts';
import { smoothSurface } from './smooth.ts';
import { decimate, gridToLps, signedVolume, triangleCount, unmatchedEdges, vertexNormals } from './meshOps.ts';
import { labelStats } from './labelStats.ts';
import { wellComposedAdditions } from './wellComposed.ts';
import { ellipsoidLabelMap, ellipsoidVolumeMm3 } from './testShapes.ts';
import { rng } from '../../test/support/syntheticCt.ts';

function surfaceOf(labelMapArgs: Parameters<typeof ellipsoidLabelMap>[0], label = 1) {
  const map = ellipsoidLabelMap(labelMapArgs);
  const include = new Uint8Array(256);
  include[label] = 1;
  const stats = labelStats(map).get(label);
  assert.ok(stats, 'label present');
  return { map, stats, mesh: extractSurface(map.data, map.dims, map.spacing, include, stats) };
}

test('a voxelised sphere meshes to a closed, outward surface enclosing the analytic volume', () => {
  const radii: Vec3 = [20, 20, 20];
  const { mesh, stats } = surfaceOf({ dims: [64, 64, 64], shapes: [{ label: 1, center: [31.5, 31.5, 31.5], radii }] });
  assert.equal(unmatchedEdges(mesh), 0, 'every edge is shared by two triangles with opposite direction');
  const volume = signedVolume(mesh);
  assert.ok(volume > 0, 'outward winding gives a positive volume');
  const analytic = ellipsoidVolumeMm3(radii);
  assert.ok(
    Math.abs(volume - analytic) / analytic < 0.03,
    `mesh volume ${volume.toFixed(0)} vs analytic ${analytic.toFixed(0)}`,
  );
  assert.ok(Math.abs(stats.voxels - analytic) / analytic < 0.03);
});

test('constrained Taubin smoothing does not shrink the surface and keeps it closed', () => {
  const radii: Vec3 = [14, 10, 8];
  const { mesh } = surfaceOf({ dims: [40, 32, 28], shapes: [{ label: 1, center: [19.5, 15.5, 13.5], radii }] });
  const before = signedVolume(mesh);
  const roughness = (m: typeof mesh): number => {
    // Mean distance from each vertex to the analytic ellipsoid surface, in mm.
    let sum = 0;
    for (let i = 0; i < m.positions.length; i += 3) {
      const x = (m.positions[i] - 19.5) / radii[0];
      const y = (m.positions[i + 1] - 15.5) / radii[1];
      const z = (m.positions[i + 2] - 13.5) / radii[2];
      sum += Math.abs(Math.hypot(x, y, z) - 1);
    }
    return sum / (m.positions.length / 3);
  };
  const errorBefore = roughness(mesh);
  smoothSurface(mesh, [1, 1, 1]);
  const after = signedVolume(mesh);
  const analytic = ellipsoidVolumeMm3(radii);
  assert.equal(unmatchedEdges(mesh), 0);
  assert.ok(after / before > 0.98, `smoothing shrank the volume from ${before.toFixed(0)} to ${after.toFixed(0)}`);
  assert.ok(
    Math.abs(after - analytic) / analytic < 0.04,
    `smoothed ${after.toFixed(0)} vs analytic ${analytic.toFixed(0)}`,
  );
  assert.ok(roughness(mesh) < errorBefore, 'smoothing brings the surface closer to the true shape');
});

test('the WebAssembly smoothing step gives what the same step in plain JavaScript gives', () => {
  // A noisy, anisotropic blob (clamping to the cells engages), plus one vertex no triangle uses.
  const spacing: Vec3 = [0.7, 0.9, 2.5];
  const { mesh } = surfaceOf({
    dims: [36, 30, 14],
    spacing,
    shapes: [
      { label: 1, center: [17, 14, 6.5], radii: [9, 11, 12] },
      { label: 1, center: [25, 20, 9], radii: [4, 3, 6] },
    ],
  });
  const positions = new Float32Array(mesh.positions.length + 3);
  positions.set(mesh.positions);
  positions.set([5.1 * spacing[0], 6.2 * spacing[1], 7.3 * spacing[2]], mesh.positions.length);
  const random = rng(5);
  for (let i = 0; i < mesh.positions.length; i++) {
    const s = spacing[i % 3];
    const cell = Math.floor(positions[i] / s) * s;
    positions[i] = Math.min(cell + s * 0.999, Math.max(cell + s * 0.001, positions[i] + (random() - 0.5) * s * 0.6));
  }
  const expected = Float64Array.from(positions);
  const nv = positions.length / 3;
  const neighbours: number[][] = Array.from({ length: nv }, () => []);
  for (let t = 0; t < mesh.indices.length; t += 3) {
    const [a, b, c] = [mesh.indices[t], mesh.indices[t + 1], mesh.indices[t + 2]];
    neighbours[a].push(b);
    neighbours[b].push(c);
    neighbours[c].push(a);
  }
  const lo = Array.from(expected, (p, i) => Math.floor(p / spacing[i % 3]) * spacing[i % 3]);
  let clamped = 0;
  for (let pass = 0; pass < 2 * 7; pass++) {
    const factor = pass % 2 === 0 ? 0.5 : -0.53;
    const before = Float64Array.from(expected);
    for (let v = 0; v < nv; v++) {
      if (neighbours[v].length === 0) continue;
      for (let k = 0; k < 3; k++) {
        const mean = neighbours[v].reduce((sum, n) => sum + before[n * 3 + k], 0) / neighbours[v].length;
        const moved = before[v * 3 + k] + factor * (mean - before[v * 3 + k]);
        const kept = Math.min(lo[v * 3 + k] + spacing[k], Math.max(lo[v * 3 + k], moved));
        if (kept !== moved) clamped++;
        expected[v * 3 + k] = kept;
      }
    }
  }
  assert.ok(clamped > 100, `the cell constraint engaged (${clamped} times)`);
  const smoothed = { positions, indices: mesh.indices };
  smoothSurface(smoothed, spacing, { iterations: 7 });
  let worst = 0;
  for (let i = 0; i < positions.length; i++) worst = Math.max(worst, Math.abs(positions[i] - expected[i]));
  assert.ok(worst < 1e-4, `largest difference ${worst} mm`);
  assert.deepEqual(
    [...positions.subarray(-3)],
    [...Float32Array.from([5.1 * spacing[0], 6.2 * spacing[1], 7.3 * spacing[2]])],
    'a vertex without neighbours stays',
  );
});

test('anisotropic spacing and a mirrored direction matrix still give true size and outward normals', () => {
  const radii: Vec3 = [30, 24, 36];
  const spacing: Vec3 = [0.8, 1.2, 3];
  // Flips the first axis (det = -1), as many NIfTI files do.
  const direction: Mat3 = [-1, 0, 0, 0, 1, 0, 0, 0, 1];
  const { mesh, map } = surfaceOf({
    dims: [90, 50, 30],
    spacing,
    direction,
    origin: [100, -50, 20],
    shapes: [{ label: 1, center: [45, 25, 15], radii }],
  });
  smoothSurface(mesh, map.spacing);
  gridToLps(mesh, map.origin, map.direction);
  const volume = signedVolume(mesh);
  const analytic = ellipsoidVolumeMm3(radii);
  assert.ok(volume > 0, 'winding flipped with the mirrored grid');
  assert.ok(Math.abs(volume - analytic) / analytic < 0.05, `volume ${volume.toFixed(0)} vs ${analytic.toFixed(0)}`);
  // Centre lands at origin + direction * (index * spacing).
  let cx = 0;
  for (let i = 0; i < mesh.positions.length; i += 3) cx += mesh.positions[i];
  cx /= mesh.positions.length / 3;
  assert.ok(Math.abs(cx - (100 - 45 * 0.8)) < 1, `centre x ${cx}`);
  // Normals point away from the centre.
  const n = vertexNormals(mesh);
  let outward = 0;
  const c: Vec3 = [100 - 36, -50 + 30, 20 + 45];
  for (let i = 0; i < n.length; i += 3) {
    const d =
      (mesh.positions[i] - c[0]) * n[i] +
      (mesh.positions[i + 1] - c[1]) * n[i + 1] +
      (mesh.positions[i + 2] - c[2]) * n[i + 2];
    if (d > 0) outward++;
  }
  assert.ok(outward / (n.length / 3) > 0.99, 'normals face outward');
});

test('decimation meets the triangle budget and keeps the shape closed', async () => {
  const radii: Vec3 = [25, 25, 25];
  const { mesh } = surfaceOf({ dims: [60, 60, 60], shapes: [{ label: 1, center: [29.5, 29.5, 29.5], radii }] });
  smoothSurface(mesh, [1, 1, 1]);
  const before = triangleCount(mesh);
  const volumeBefore = signedVolume(mesh);
  for (const reduction of [0.5, 0.9, 0.97]) {
    const reduced = await decimate(mesh, reduction);
    const budget = Math.floor(before * (1 - reduction));
    const got = triangleCount(reduced);
    assert.ok(got <= budget, `${got} triangles for a budget of ${budget}`);
    assert.ok(got >= budget * 0.9, `${got} triangles is far under the budget of ${budget}`);
    assert.equal(unmatchedEdges(reduced), 0, `closed after ${reduction} reduction`);
    assert.ok(Math.abs(signedVolume(reduced) - volumeBefore) / volumeBefore < 0.02);
    assert.equal(reduced.positions.length / 3, new Set(reduced.indices).size, 'no unused vertices');
  }
});

test('labelStats gives voxel counts and bounding boxes for every label', () => {
  const map = ellipsoidLabelMap({
    dims: [30, 20, 10],
    shapes: [
      { label: 3, center: [5, 5, 5], radii: [2, 2, 2] },
      { label: 7, center: [22, 12, 4], radii: [3, 1, 1] },
    ],
  });
  const stats = labelStats(map);
  assert.deepEqual([...stats.keys()].sort(), [3, 7]);
  assert.deepEqual(stats.get(3)?.min, [3, 3, 3]);
  assert.deepEqual(stats.get(3)?.max, [7, 7, 7]);
  assert.deepEqual(stats.get(7)?.min, [19, 11, 3]);
  assert.deepEqual(stats.get(7)?.max, [25, 13, 5]);
  let threes = 0;
  for (const v of map.data) if (v === 3) threes++;
  assert.equal(stats.get(3)?.voxels, threes);
});

test('labelStats agrees with a voxel-by-voxel count on runs of every length and alignment', () => {
  const random = rng(3);
  for (const [nx, ny, nz, wide, offset] of [
    [37, 5, 4, false, 0],
    [64, 6, 3, false, 0],
    [41, 4, 3, false, 3],
    [29, 5, 3, true, 0],
  ] as const) {
    const n = nx * ny * nz;
    const backing = wide ? new Uint16Array(n + offset) : new Uint8Array(n + offset);
    const data = backing.subarray(offset, offset + n);
    for (let i = 0; i < n;) {
      const run = 1 + Math.floor(random() * 23);
      const label = random() < 0.4 ? 0 : 1 + Math.floor(random() * (wide ? 600 : 5));
      data.fill(label, i, Math.min(n, i + run));
      i += run;
    }
    const expected = new Map<number, { voxels: number; min: number[]; max: number[] }>();
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          const l = data[(z * ny + y) * nx + x];
          if (l === 0) continue;
          const e = expected.get(l) ?? { voxels: 0, min: [x, y, z], max: [x, y, z] };
          e.voxels++;
          [x, y, z].forEach((v, k) => {
            e.min[k] = Math.min(e.min[k], v);
            e.max[k] = Math.max(e.max[k], v);
          });
          expected.set(l, e);
        }
    const got = labelStats({
      data,
      dims: [nx, ny, nz],
      spacing: [1, 1, 1],
      origin: [0, 0, 0],
      direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    });
    assert.deepEqual(
      new Map([...got].sort((a, b) => a[0] - b[0])),
      new Map([...expected].sort((a, b) => a[0] - b[0])),
      `${nx}x${ny}x${nz}${wide ? ' 16-bit' : ''} at offset ${offset}`,
    );
  }
});

test('a label touching the volume edge is still closed (the grid is padded)', () => {
  const { mesh } = surfaceOf({ dims: [20, 20, 20], shapes: [{ label: 1, center: [0, 10, 19], radii: [8, 8, 8] }] });
  assert.equal(unmatchedEdges(mesh), 0);
  assert.ok(signedVolume(mesh) > 0);
});

test('every cell with mixed corners gets a vertex and every crossing edge a quad, on noise and slabs', () => {
  // Counted straight from the mask, cell by cell, independently of the mesher's skipping walk.
  const dims: Vec3 = [23, 17, 11];
  const [nx, ny, nz] = dims;
  const random = rng(11);
  const masks: Array<{ what: string; inside: (x: number, y: number, z: number) => boolean }> = [
    { what: 'sparse noise', inside: () => random() < 0.08 },
    { what: 'dense noise', inside: () => random() < 0.7 },
    { what: 'x-slabs', inside: (x) => x % 4 < 2 },
    { what: 'y stripes in alternate slices', inside: (_x, y, z) => (y + z) % 3 === 0 },
    { what: 'filled box touching every face', inside: () => true },
    {
      what: 'single voxels at the corners',
      inside: (x, y, z) => (x === 0 || x === nx - 1) && (y === 0 || y === ny - 1) && (z === 0 || z === nz - 1),
    },
  ];
  for (const { what, inside } of masks) {
    const data = new Uint8Array(nx * ny * nz);
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) data[(z * ny + y) * nx + x] = inside(x, y, z) ? 2 : 0;
    const include = new Uint8Array(256);
    include[2] = 1;
    const stats = labelStats({
      data,
      dims,
      spacing: [1, 1, 1],
      origin: [0, 0, 0],
      direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    }).get(2);
    assert.ok(stats, what);
    // The mesher first adds the voxels that make the mask well-composed: counted on that mask.
    const counted = data.slice();
    for (const [z, list] of wellComposedAdditions({ data, dims, include, box: stats }) ?? [])
      for (const i of list) counted[z * nx * ny + i] = 2;
    const at = (x: number, y: number, z: number): number =>
      x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz ? 0 : counted[(z * ny + y) * nx + x] === 2 ? 1 : 0;
    let mixedCells = 0;
    let crossingEdges = 0;
    for (let z = -1; z < nz; z++) {
      for (let y = -1; y < ny; y++) {
        for (let x = -1; x < nx; x++) {
          let sum = 0;
          for (let c = 0; c < 8; c++) sum += at(x + (c & 1), y + ((c >> 1) & 1), z + ((c >> 2) & 1));
          if (sum > 0 && sum < 8) mixedCells++;
          const v = at(x + 1, y + 1, z + 1);
          if (x + 1 < nx && v !== at(x + 2, y + 1, z + 1)) crossingEdges++;
          if (y + 1 < ny && v !== at(x + 1, y + 2, z + 1)) crossingEdges++;
          if (z + 1 < nz && v !== at(x + 1, y + 1, z + 2)) crossingEdges++;
          // The edges from the padding into the grid's first voxels.
          if (x === -1 && at(0, y + 1, z + 1)) crossingEdges++;
          if (y === -1 && at(x + 1, 0, z + 1)) crossingEdges++;
          if (z === -1 && at(x + 1, y + 1, 0)) crossingEdges++;
        }
      }
    }
    const mesh = extractSurface(data, dims, [1, 1, 1], include, stats);
    assert.equal(mesh.positions.length / 3, mixedCells, `${what}: one vertex per mixed cell`);
    assert.equal(triangleCount(mesh), 2 * crossingEdges, `${what}: two triangles per crossing edge`);
    assert.equal(unmatchedEdges(mesh), 0, `${what}: closed`);
  }
});

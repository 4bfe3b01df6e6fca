import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Mat3, Vec3 } from '../volume/volume.ts';
import { extractSurface } from './surfaceNets.ts';
import { smoothSurface } from './smooth.ts';
import { decimate, gridToLps, signedVolume, triangleCount, unmatchedEdges, vertexNormals } from './meshOps.ts';
import { labelStats } from './labelStats.ts';
import { ellipsoidLabelMap, ellipsoidVolumeMm3 } from './testShapes.ts';

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
  assert.ok(Math.abs(volume - analytic) / analytic < 0.03, `mesh volume ${volume.toFixed(0)} vs analytic ${analytic.toFixed(0)}`);
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
  assert.ok(Math.abs(after - analytic) / analytic < 0.04, `smoothed ${after.toFixed(0)} vs analytic ${analytic.toFixed(0)}`);
  assert.ok(roughness(mesh) < errorBefore, 'smoothing brings the surface closer to the true shape');
});

test('anisotropic spacing and a mirrored direction matrix still give true size and outward normals', () => {
  const radii: Vec3 = [30, 24, 36];
  const spacing: Vec3 = [0.8, 1.2, 3];
  // Flips the first axis (det = -1), as many NIfTI files do.
  const direction: Mat3 = [-1, 0, 0, 0, 1, 0, 0, 0, 1];
  const { mesh, map } = surfaceOf({ dims: [90, 50, 30], spacing, direction, origin: [100, -50, 20], shapes: [{ label: 1, center: [45, 25, 15], radii }] });
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
    const d = (mesh.positions[i] - c[0]) * n[i] + (mesh.positions[i + 1] - c[1]) * n[i + 1] + (mesh.positions[i + 2] - c[2]) * n[i + 2];
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

test('a label touching the volume edge is still closed (the grid is padded)', () => {
  const { mesh } = surfaceOf({ dims: [20, 20, 20], shapes: [{ label: 1, center: [0, 10, 19], radii: [8, 8, 8] }] });
  assert.equal(unmatchedEdges(mesh), 0);
  assert.ok(signedVolume(mesh) > 0);
});

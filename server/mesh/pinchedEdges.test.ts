import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropBackToBackPairs } from './backToBack.ts';
import { manifoldReport, nonManifoldPlaces, weldedManifoldReport } from './manifold.ts';
import { signedVolume } from './meshOps.ts';
import { splitPinchedEdges } from './pinchedEdges.ts';

// A tetrahedron on edge 0-1 (the z axis), wound outward, with its other corners towards +x.
const TET = [0, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2];
const CORNERS = [0, 0, 0, 0, 0, 2, 1, -1, 1, 1, 1, 1];

function normals(positions: ArrayLike<number>, indices: ArrayLike<number>): number[][] {
  const out: number[][] = [];
  for (let t = 0; t < indices.length; t += 3) {
    const [a, b, c] = [indices[t], indices[t + 1], indices[t + 2]].map((v) =>
      [0, 1, 2].map((k) => positions[v * 3 + k]),
    );
    const u = [0, 1, 2].map((k) => b[k] - a[k]);
    const v = [0, 1, 2].map((k) => c[k] - a[k]);
    out.push([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]);
  }
  return out;
}

test('a flap of two back-to-back triangles is dropped, and nothing else', () => {
  // The tetrahedron with a flap on its edge 0-1: that edge lies in four triangles.
  const flapped = Uint32Array.from([...TET, 0, 1, 4, 1, 0, 4]);
  const places = nonManifoldPlaces(flapped, 5);
  assert.deepEqual([...new Set(places)].sort(), [0, 1]);
  const dropped = dropBackToBackPairs(flapped, 5, places);
  assert.deepEqual(dropped && [...dropped], TET);
  // The same triangle twice, wound alike, encloses something twice over: it is not a flap.
  const doubled = Uint32Array.from([...TET, 0, 1, 4, 0, 1, 4]);
  assert.equal(dropBackToBackPairs(doubled, 5, [0, 1]), undefined);
  // Pairs away from the places are left alone.
  assert.equal(dropBackToBackPairs(Uint32Array.from([...TET, 4, 5, 6, 4, 6, 5]), 7, [0, 1]), undefined);
});

test('two solids sharing an edge are split apart there: closed, 2-manifold, no triangle turned', () => {
  // A second tetrahedron on edge 0-1 towards -x: edge 0-1 lies in four triangles.
  const positions = Float32Array.from([...CORNERS, -1, -1, 1, -1, 1, 1]);
  const second = [0, 1, 4, 0, 5, 1, 1, 5, 4, 0, 4, 5];
  const indices = Uint32Array.from([...TET, ...second]);
  assert.ok(signedVolume({ positions, indices: Uint32Array.from(TET) }) > 0, 'outward');
  assert.ok(signedVolume({ positions, indices: Uint32Array.from(second) }) > 0, 'outward');
  const before = manifoldReport(indices, 6);
  assert.equal(before.nonManifoldEdges, 1);
  const split = splitPinchedEdges(positions, indices, nonManifoldPlaces(indices, 6));
  assert.ok(split, 'the pinched edge is split');
  const clean = { nonManifoldEdges: 0, repeatedDirectedEdges: 0, nonManifoldVertices: 0, degenerateTriangles: 0 };
  assert.deepEqual(manifoldReport(split.indices, 8), clean);
  // As an STL file is read back: vertices welded by position.
  assert.deepEqual(weldedManifoldReport(split.positions, split.indices), clean);
  assert.ok(Math.abs(signedVolume(split) / signedVolume({ positions, indices }) - 1) < 0.05, 'volume kept');
  const turned = normals(positions, indices).map((n, t) => {
    const m = normals(split.positions, split.indices)[t];
    return n[0] * m[0] + n[1] * m[1] + n[2] * m[2] <= 0;
  });
  assert.deepEqual(turned, new Array(8).fill(false));
  // Each solid keeps its own end of the edge; the two ends are a fiftieth of the edge apart.
  const gap = Math.hypot(...[0, 1, 2].map((k) => split.positions[k] - split.positions[6 * 3 + k]));
  assert.ok(gap > 0.03 && gap < 0.05, `gap ${gap}`);
  assert.ok(split.positions[0] > 0 && split.positions[6 * 3] < 0, 'each end moves towards its own solid');
});

test('a vertex where two solids touch, or an edge in six triangles, is not split', () => {
  // Two tetrahedra sharing only vertex 0.
  const positions = Float32Array.from([...CORNERS, -1, 1, -1, -1, -1, -1, -1, 0, -2]);
  const pinch = Uint32Array.from([...TET, 0, 5, 4, 0, 4, 6, 4, 5, 6, 0, 6, 5]);
  assert.equal(splitPinchedEdges(positions, pinch, nonManifoldPlaces(pinch, 7)), undefined);
  // Three tetrahedra on edge 0-1.
  const three = Float32Array.from([...CORNERS, -1, 1, 1, -1, -1, 1, 1, 3, 1, -1, 3, 1]);
  const fins = Uint32Array.from([...TET, 0, 1, 4, 0, 5, 1, 1, 5, 4, 0, 4, 5, 0, 1, 6, 0, 7, 1, 1, 7, 6, 0, 6, 7]);
  assert.equal(splitPinchedEdges(three, fins, nonManifoldPlaces(fins, 8)), undefined);
});

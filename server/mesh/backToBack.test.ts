import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropBackToBackPairs } from './backToBack.ts';
import { nonManifoldPlaces } from './manifold.ts';

// A tetrahedron, each triangle wound the same way round.
const TET = [0, 2, 1, 0, 1, 3, 1, 2, 3, 0, 3, 2];

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

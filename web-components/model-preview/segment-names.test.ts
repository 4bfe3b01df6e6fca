import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glbJsonLength, normaliseName, structureNamesByMaterial } from './segment-names.ts';

test('structures are named by node, then mesh, then material', () => {
  const names = structureNamesByMaterial({
    nodes: [{ name: 'ct_Models' }, { name: 'body', mesh: 0 }, { mesh: 1 }, { name: '', mesh: 2 }],
    meshes: [
      { name: 'body mesh', primitives: [{ material: 0 }] },
      { name: 'lungs', primitives: [{ material: 1 }] },
      { primitives: [{ material: 2 }] },
    ],
    materials: [{}, { name: 'ignored' }, { name: 'bone' }, { name: 'spare' }],
  });
  assert.deepEqual([...names.entries()].sort(), [
    [0, 'body'],
    [1, 'lungs'],
    [2, 'bone'],
    [3, 'spare'],
  ]);
  assert.equal(structureNamesByMaterial({ materials: [{}] }).size, 0);
});

test('the GLB header gives the JSON chunk length, or says the bytes are not a GLB', () => {
  const head = new Uint8Array(20);
  const view = new DataView(head.buffer);
  view.setUint32(0, 0x46546c67, true);
  view.setUint32(12, 1234, true);
  view.setUint32(16, 0x4e4f534a, true);
  assert.equal(glbJsonLength(head), 1234);
  assert.equal(glbJsonLength(head.subarray(0, 19)), undefined);
  assert.equal(glbJsonLength(new TextEncoder().encode('{"asset":{"version":"2.0"}}')), null);
  assert.equal(normaliseName('Liver_1'), 'liver 1');
});

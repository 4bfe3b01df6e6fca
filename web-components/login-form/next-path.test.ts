import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextPath } from './next-path.ts';

test('after sign-in the page goes only to a path on this server', () => {
  assert.equal(nextPath('?next=%2Ffiles%3Fa%3D1'), '/files?a=1');
  assert.equal(nextPath(''), '/');
  for (const bad of [
    '//evil.example',
    'https://evil.example',
    '/\\evil.example',
    'javascript:alert(1)',
    '/login?next=/x',
  ]) {
    assert.equal(nextPath(`?next=${encodeURIComponent(bad)}`), '/', bad);
  }
});

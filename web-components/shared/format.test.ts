import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatRelativeFuture, plural } from './format.ts';

test('sizes, durations and expiry read naturally', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(250 * 1024 * 1024), '250 MB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatDuration(4_200), '4 s');
  assert.equal(formatDuration(125_000), '2 min 05 s');
  assert.equal(formatDuration(3_780_000), '1 h 03 min');
  const now = Date.parse('2025-01-01T12:00:00Z');
  assert.equal(formatRelativeFuture('2025-01-01T13:00:00Z', now), 'in 60 min');
  assert.equal(formatRelativeFuture('2025-01-01T11:00:00Z', now), 'expired');
  assert.equal(formatRelativeFuture(null, now), 'never');
  assert.equal(plural(1, 'file'), '1 file');
  assert.equal(plural(3, 'series', 'series'), '3 series');
});

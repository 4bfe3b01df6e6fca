import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatWait } from './formatWait.ts';

test('waits read in the unit people use, rounded up', () => {
  assert.equal(formatWait(1), '1 second');
  assert.equal(formatWait(45), '45 seconds');
  assert.equal(formatWait(60), '1 minute');
  assert.equal(formatWait(887), '15 minutes');
  assert.equal(formatWait(0.2), '1 second');
  assert.equal(formatWait(3 * 3600), '3 hours');
});

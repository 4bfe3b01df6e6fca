import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isJunk } from './collect-files.ts';
import { planBatches, spreadProgress } from './batches.ts';

test('uploads are split by bytes and by file count, never leaving a batch empty', () => {
  assert.deepEqual(planBatches([10, 10, 10, 10], 25, 100), [
    [0, 1],
    [2, 3],
  ]);
  assert.deepEqual(planBatches([100, 1, 1], 25, 100), [[0], [1, 2]]);
  assert.deepEqual(planBatches([1, 1, 1, 1, 1], 1000, 2), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(planBatches([], 10, 10), []);
});

test('request progress is spread over the files in body order', () => {
  assert.deepEqual(spreadProgress([100, 100], 0, 220), [0, 0]);
  assert.deepEqual(spreadProgress([100, 100], 110, 220), [100, 0]);
  assert.deepEqual(spreadProgress([100, 100], 165, 220), [100, 50]);
  assert.deepEqual(spreadProgress([100, 100], 220, 220), [100, 100]);
});

test('system litter is skipped but real DICOM names are kept', () => {
  assert.equal(isJunk('scan/.DS_Store'), true);
  assert.equal(isJunk('__MACOSX/scan/IM0001'), true);
  assert.equal(isJunk('Thumbs.db'), true);
  assert.equal(isJunk('scan/IM0001'), false);
  assert.equal(isJunk('DICOMDIR'), false);
});

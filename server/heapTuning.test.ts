import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { HEAP_GROWING_PERCENT, tuneHeapGrowth } from './heapTuning.ts';

test('the heap growth setting is one this Node knows (an unknown V8 flag would be ignored at run time)', () => {
  const run = spawnSync(process.execPath, [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`, '-e', '0'], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
});

test('a heap growth chosen on the node command line is left as it is', () => {
  assert.equal(tuneHeapGrowth(['--heap-growing-percent=40']), false);
  assert.equal(tuneHeapGrowth(['--heap_growing_percent=40']), false);
  assert.equal(tuneHeapGrowth(['--import', 'tsx', '--max-old-space-size=4096']), true);
});

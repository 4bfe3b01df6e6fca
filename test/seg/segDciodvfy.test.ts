import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dciodvfy, hasDciodvfy } from '../support/dciodvfy.ts';
import { requireOrSkip } from '../support/requirements.ts';
import { syntheticSeg } from '../support/syntheticSeg.ts';

test('the SEG passes dciodvfy without errors', async (t) => {
  if (!requireOrSkip(t, hasDciodvfy(), 'dciodvfy (Debian: dicom3tools)')) return;
  const { file } = await syntheticSeg(t);
  const report = await dciodvfy(file);
  assert.deepEqual(report.errors, [], report.output);
  if (report.warnings.length > 0) t.diagnostic(`dciodvfy warnings:\n${report.warnings.join('\n')}`);
});

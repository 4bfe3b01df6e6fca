import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resultsUrl } from './results-query.ts';

test('search text and sort become the results query', () => {
  assert.equal(resultsUrl('', 'createdAt:desc'), '/api/results');
  assert.equal(resultsUrl('  doe jane ', 'createdAt:desc'), '/api/results?q=doe+jane');
  assert.equal(resultsUrl('', 'patientName:asc'), '/api/results?sort=patientName&order=asc');
  assert.equal(resultsUrl('2024-03', 'studyDate:desc'), '/api/results?q=2024-03&sort=studyDate&order=desc');
});

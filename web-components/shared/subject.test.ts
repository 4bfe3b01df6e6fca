import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjectFacts } from './subject.ts';

test('patient ID and modality read the same wherever a job or result is shown', () => {
  assert.deepEqual(
    subjectFacts({
      patientName: 'DOE^JANE',
      patientId: 'P-0042',
      studyDate: '20240301',
      modality: 'CT',
      seriesDescription: 'CT Body 3.0',
    }),
    ['ID P-0042', 'CT'],
  );
  assert.deepEqual(subjectFacts(null), []);
  assert.deepEqual(
    subjectFacts({ patientName: null, patientId: null, studyDate: null, modality: 'MR', seriesDescription: null }),
    ['MR'],
  );
});

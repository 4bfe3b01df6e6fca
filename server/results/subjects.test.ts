import { test } from 'node:test';
import assert from 'node:assert/strict';
import { displayName, formatPatientName, formatStudyDate } from './subjects.ts';

test('one display name: patient, series, study date; a file name when the index knows nothing', () => {
  const subject = {
    patientName: 'DOE^JANE^M^^',
    patientId: 'P-0042',
    studyDate: '20240301',
    modality: 'CT',
    seriesDescription: 'CT Body 3.0',
  };
  assert.equal(displayName(subject, 'CT_Body_3.0-22258490'), 'DOE, JANE M · CT Body 3.0 · 2024-03-01');
  assert.equal(
    displayName({ ...subject, patientName: null, seriesDescription: '  ' }, 'x'),
    'P-0042 · CT series · 2024-03-01',
  );
  assert.equal(displayName(null, 'ct.nii.gz'), 'ct.nii.gz');
  assert.equal(displayName(null, null), 'Unnamed series');
  assert.equal(formatPatientName('Yamada^Tarou=山田^太郎'), 'Yamada, Tarou');
  assert.equal(formatPatientName('^'), null);
  assert.equal(formatStudyDate('2024'), '2024');
});

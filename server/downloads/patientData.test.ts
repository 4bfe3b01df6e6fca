import assert from 'node:assert/strict';
import { test } from 'node:test';
import { holdsPatientData } from './patientData.ts';

test('the SEG and the input volume hold patient data; models, label maps and notes do not', () => {
  for (const name of ['CT_Thorax_seg.dcm', 'CT_Thorax.nii.gz', 'upload.nrrd', 'X.NII'])
    assert.equal(holdsPatientData(name), true, name);
  for (const name of ['CT_Thorax.glb', 'CT_Thorax.gltf', 'CT_Thorax_seg.nii.gz', 'CT_Thorax_segments.json'])
    assert.equal(holdsPatientData(name), false, name);
});

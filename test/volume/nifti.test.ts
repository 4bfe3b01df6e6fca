import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readNifti } from '../../server/volume/nifti.ts';
import { readNrrd } from '../../server/volume/nrrd.ts';
import { readVolumeFile } from '../../server/volume/readVolume.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { assertSameVolume, closeTo } from '../support/volumes.ts';

test('real: NIfTI and NRRD copies of example_ct give identical volumes and geometry', async (t) => {
  if (!requireTestData(t)) return;
  const nii = await readNifti(testDataPath('nifti/totalsegmentator/example_ct.nii.gz'));
  const nrrd = await readNrrd(testDataPath('derived_made_here/nrrd/totalseg_example_ct_from_nifti.nrrd'));
  assert.deepEqual(nii.dims, [122, 101, 112]);
  assert.ok(nii.data instanceof Int16Array && nrrd.data instanceof Int16Array);
  assertSameVolume(nrrd, nii, 1e-4);
  // RAS-stored NIfTI comes out in LPS: i runs to the patient's right.
  closeTo(nii.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1], 1e-6, 'direction');
  const seg = await readVolumeFile(testDataPath('nifti/totalsegmentator/example_seg_fast_force_split.nii.gz'));
  const segNrrd = await readVolumeFile(
    testDataPath('derived_made_here/nrrd/totalseg_example_ct_seg_fast_from_nifti.seg-labelmap.nrrd'),
  );
  assert.ok(seg.data instanceof Uint8Array);
  assertSameVolume(segNrrd, seg, 1e-4);
  const brain = await readVolumeFile(testDataPath('nrrd/pyradiomics/brain1_image.nrrd'));
  assert.deepEqual(brain.dims, [256, 256, 25]);
  closeTo(brain.direction, [1, 0, 0, 0, -1, 0, 0, 0, 1], 1e-9, 'brain direction');
});

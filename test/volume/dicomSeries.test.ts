import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readDicomSeries, VolumeError } from '../../server/volume/dicomSeries.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { assertSameGeometry, assertSameVoxels, expectVolumeError, filesIn, reorientLike } from '../support/volumes.ts';

test('real: the NEMA two-frame enhanced CT (CT0012) is read frame by frame and refused as too few slices', async (t) => {
  if (!requireTestData(t)) return;
  const file = testDataPath('dicom/compressed_single/explicit_le/dicomParser__CT0012.explicit_little_endian.dcm');
  await assert.rejects(
    readDicomSeries([file]),
    (err: unknown) => err instanceof VolumeError && err.code === 'too-few-slices' && /only 2 slice/.test(err.message),
  );
});

// ---- real data ----

const TORSO = [
  'derived_made_here/dicom/totalseg_torso_20sl_uids_uncompressed',
  'derived_made_here/dicom/totalseg_torso_20sl_uids_jpeg_lossless_sv1_4.70',
  'derived_made_here/dicom/totalseg_torso_20sl_uids_j2k_4.90',
  'dicom/ct_series/totalseg_torso_20sl_j2k',
  'derived_made_here/dicom/totalseg_torso_20sl_uncompressed',
  'derived_made_here/dicom/totalseg_torso_20sl_jpeg_lossless_sv1_4.70',
];

test('real: the 20-slice torso CT gives identical volumes in every transfer syntax', async (t) => {
  if (!requireTestData(t)) return;
  const [first, ...rest] = TORSO;
  const ref = await readDicomSeries(await filesIn(testDataPath(first)));
  assert.deepEqual(ref.volume.dims, [512, 512, 20]);
  assert.ok(ref.volume.data instanceof Int16Array);
  assert.equal(ref.meta.modality, 'CT');
  for (const dir of rest) {
    const other = await readDicomSeries(await filesIn(testDataPath(dir)));
    assertSameGeometry(other.volume, ref.volume, 1e-6);
    assertSameVoxels(other.volume, ref.volume);
  }
  // And it matches TotalSegmentator's own reading of it: same grid as its segmentation output.
  const seg = await readNifti(testDataPath('nifti/totalsegmentator/example_seg_dicom.nii.gz'));
  const segAligned = reorientLike(seg, ref.volume);
  assertSameGeometry(segAligned, ref.volume, 1e-2);
});

test('real: the MR series decodes identically from RLE, JPEG-LS, JPEG lossless and JPEG 2000, and matches dicom2nifti', async (t) => {
  if (!requireTestData(t)) return;
  const gt = await readNifti(testDataPath('dicom/compressed_series/d2n_mr4sl_compressed_ground_truth.nii.gz'));
  for (const dir of [
    'd2n_mr4sl_rle',
    'd2n_mr4sl_jpegls_lossless',
    'd2n_mr4sl_jpeg_lossless_sv1',
    'd2n_mr4sl_j2k_lossless',
  ]) {
    const { volume } = await readDicomSeries(await filesIn(testDataPath('dicom/compressed_series', dir)));
    const aligned = reorientLike(gt, volume);
    assertSameGeometry(aligned, volume, 1e-3);
    assertSameVoxels(aligned, volume);
  }
  const gtLe = await readNifti(testDataPath('dicom/compressed_series/d2n_mr4sl_explicit_le_ground_truth.nii.gz'));
  const { volume } = await readDicomSeries(
    await filesIn(testDataPath('dicom/compressed_series/d2n_mr4sl_explicit_le')),
  );
  const alignedLe = reorientLike(gtLe, volume);
  assertSameGeometry(alignedLe, volume, 1e-3);
  assertSameVoxels(alignedLe, volume);
});

const GEOMETRY = 'dicom/bad_inputs/geometry_problem_series';

test('real: each geometry problem gets its specific error', async (t) => {
  if (!requireTestData(t)) return;
  const missing = await expectVolumeError(
    await filesIn(testDataPath(GEOMETRY, 'd2n_ct_missing_slice_4sl')),
    'missing-slices',
  );
  assert.match(missing.message, /1 slice\(s\) are missing.*gap of 10 mm/);
  await expectVolumeError(await filesIn(testDataPath(GEOMETRY, 'd2n_ct_tilt_missing_slice_4sl')), 'missing-slices');
  await expectVolumeError(await filesIn(testDataPath(GEOMETRY, 'd2n_ct_not_a_volume_4sl')), 'not-a-volume');
  await expectVolumeError(await filesIn(testDataPath(GEOMETRY, 'd2n_mr_mixed_orientation_4sl')), 'mixed-orientation');
  await expectVolumeError(await filesIn(testDataPath(GEOMETRY, 'd2n_mr_only_2sl')), 'too-few-slices');
  // Duplicates are dropped with a warning; what is left of this scattered series still has gaps.
  const dup = await expectVolumeError(
    await filesIn(testDataPath(GEOMETRY, 'kits_ct_duplicate_positions_11sl')),
    'missing-slices',
  );
  assert.ok(
    dup.warnings.some((w) => /1 image\(s\) repeated the position/.test(w)),
    dup.warnings.join('; '),
  );
});

test('real: gantry tilt is corrected onto a rectilinear grid', async (t) => {
  if (!requireTestData(t)) return;
  const { volume, warnings } = await readDicomSeries(await filesIn(testDataPath(GEOMETRY, 'd2n_ct_gantry_tilt_4sl')));
  assert.ok(
    warnings.some((w) => /Gantry tilt of 14\.0°/.test(w)),
    warnings.join('; '),
  );
  assert.deepEqual(volume.dims, [512, 512, 4]);
  const d = volume.direction;
  const col = (k: number) => [d[k], d[3 + k], d[6 + k]];
  const dotp = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  assert.ok(
    Math.abs(dotp(col(0), col(2))) < 1e-6 && Math.abs(dotp(col(1), col(2))) < 1e-6,
    'slice axis is orthogonal to the image plane',
  );
  // Slice spacing is measured along the normal: 5 mm table steps at 14 degrees.
  assert.ok(Math.abs(volume.spacing[2] - 5 * Math.cos((14.0 * Math.PI) / 180)) < 0.01, String(volume.spacing[2]));
  const ge = await readDicomSeries(await filesIn(testDataPath('dicom/ct_series/dcmqa_ge_head_tilt_28sl')));
  assert.ok(ge.warnings.some((w) => /Gantry tilt of 18\.5°/.test(w)));
  assert.ok(ge.warnings.some((w) => /Slice spacing varies/.test(w)));
});

test('real: localizer and secondary capture are refused; DICOMDIR files are ignored', async (t) => {
  if (!requireTestData(t)) return;
  await expectVolumeError(
    await filesIn(testDataPath('dicom/bad_inputs/non_volume_ct_images/dcmqa_philips_localizer')),
    'localizer',
  );
  await expectVolumeError(
    await filesIn(testDataPath('dicom/bad_inputs/non_volume_ct_images/dcmqa_philips_exam_summary_sc')),
    'secondary-capture',
  );
  const phantom = await readDicomSeries(await filesIn(testDataPath('dicom/ct_series/dcmqa_philips_phantom_tilt_54sl')));
  assert.equal(phantom.volume.dims[2], 54);
});

test('real: unsupported transfer syntax names the syntax; not-DICOM files are refused', async (t) => {
  if (!requireTestData(t)) return;
  const err = await expectVolumeError(
    [testDataPath('dicom/bad_inputs/unsupported_or_new_transfer_syntax/pydicom-data__HTJ2KLossless_08_RGB.dcm')],
    'unsupported-transfer-syntax',
  );
  assert.match(err.message, /HTJ2K/);
  assert.match(err.message, /1\.2\.840\.10008\.1\.2\.4\.201/);
  const dir = testDataPath('dicom/bad_inputs/not_dicom_made_here');
  for (const f of [
    'empty_file.dcm',
    'plain_text_not_dicom.dcm',
    'png_image_renamed.dcm',
    'nifti_gz_renamed.dcm',
    'dicm_magic_then_random_bytes.dcm',
    'ct_slice_truncated_in_header.dcm',
  ]) {
    const e = await expectVolumeError([join(dir, f)], 'not-dicom');
    assert.ok(e.message.includes(f), 'the message names the file');
  }
  await expectVolumeError(
    [testDataPath('dicom/bad_inputs/non_image_dicom/debian-python3-pydicom__test-SR.dcm')],
    'no-pixel-data',
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDicomSeries, VolumeError } from './dicomSeries.ts';
import { readNifti } from './nifti.ts';
import { TS } from '../../test/support/dicomPart10.ts';
import {
  makeSyntheticCt,
  syntheticDicomSliceBuffers,
  writeSyntheticDicomSeries,
} from '../../test/support/syntheticCt.ts';
import { requireTestData, testDataPath } from '../../test/support/requirements.ts';
import type { Volume } from './volume.ts';
import { writePart10 } from '../seg/dcmjsData.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'volume-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort().map((f) => join(dir, f));
}

function assertSameGeometry(a: Volume, b: Volume, tol = 1e-4): void {
  assert.deepEqual(a.dims, b.dims);
  for (let i = 0; i < 3; i++)
    assert.ok(Math.abs(a.spacing[i] - b.spacing[i]) < tol, `spacing ${a.spacing} vs ${b.spacing}`);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(a.origin[i] - b.origin[i]) < tol, `origin ${a.origin} vs ${b.origin}`);
  for (let i = 0; i < 9; i++)
    assert.ok(Math.abs(a.direction[i] - b.direction[i]) < 1e-5, `direction ${a.direction} vs ${b.direction}`);
}

function assertSameVoxels(a: Volume, b: Volume): void {
  assert.equal(a.data.length, b.data.length);
  for (let i = 0; i < a.data.length; i++) {
    if (a.data[i] !== b.data[i]) assert.fail(`voxel ${i} differs: ${a.data[i]} vs ${b.data[i]}`);
  }
}

/**
 * The same physical grid may be stored with axes flipped or permuted (dcm2niix/dicom2nifti flip rows to
 * the NIfTI convention). Returns `v` re-indexed onto `ref`'s axes, failing if the grids differ otherwise.
 */
function reorientLike(v: Volume, ref: Volume): Volume {
  const axis: number[] = [];
  const sign: number[] = [];
  for (let r = 0; r < 3; r++) {
    const rc = [ref.direction[r], ref.direction[3 + r], ref.direction[6 + r]];
    for (let a = 0; a < 3; a++) {
      const vc = [v.direction[a], v.direction[3 + a], v.direction[6 + a]];
      const d = rc[0] * vc[0] + rc[1] * vc[1] + rc[2] * vc[2];
      if (Math.abs(Math.abs(d) - 1) < 1e-3) {
        axis[r] = a;
        sign[r] = Math.sign(d);
      }
    }
  }
  assert.equal(axis.length, 3, 'grids are not axis-aligned with each other');
  const dims = [0, 1, 2].map((r) => v.dims[axis[r]]) as Volume['dims'];
  const out = new (v.data.constructor as new (n: number) => Volume['data'])(v.data.length);
  const strides = [1, v.dims[0], v.dims[0] * v.dims[1]];
  const idx = [0, 0, 0];
  let o = 0;
  for (idx[2] = 0; idx[2] < dims[2]; idx[2]++)
    for (idx[1] = 0; idx[1] < dims[1]; idx[1]++)
      for (idx[0] = 0; idx[0] < dims[0]; idx[0]++) {
        let src = 0;
        for (let r = 0; r < 3; r++) src += (sign[r] > 0 ? idx[r] : dims[r] - 1 - idx[r]) * strides[axis[r]];
        out[o++] = v.data[src];
      }
  // The new origin is the old voxel that became (0,0,0).
  const corner = [0, 1, 2].map((a) => {
    const r = axis.indexOf(a);
    return sign[r] > 0 ? 0 : v.dims[a] - 1;
  });
  const origin = [0, 1, 2].map(
    (w) => v.origin[w] + [0, 1, 2].reduce((acc, a) => acc + v.direction[w * 3 + a] * v.spacing[a] * corner[a], 0),
  ) as Volume['origin'];
  const spacing = [0, 1, 2].map((r) => v.spacing[axis[r]]) as Volume['spacing'];
  const direction = [0, 1, 2].flatMap((w) =>
    [0, 1, 2].map((r) => v.direction[w * 3 + axis[r]] * sign[r]),
  ) as Volume['direction'];
  return { dims, spacing, origin, direction, data: out };
}

async function expectVolumeError(files: string[], code: string): Promise<VolumeError> {
  try {
    await readDicomSeries(files);
  } catch (err) {
    assert.ok(err instanceof VolumeError, `expected VolumeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected VolumeError ${code}`);
}

test('synthetic CT round trip: write series -> readDicomSeries gives the same HU and geometry, in every writable syntax', async (t) => {
  const dir = await tempDir(t);
  const ct = makeSyntheticCt({ dims: [64, 48, 12], spacing: [0.8, 0.8, 2.5], seed: 7 });
  for (const ts of [TS.explicitLittle, TS.implicitLittle, TS.explicitBig, TS.deflatedExplicitLittle, TS.rle]) {
    const sub = join(dir, ts);
    const paths = await writeSyntheticDicomSeries(sub, ct, {
      transferSyntax: ts,
      patientName: 'Doe^Jane',
      patientId: 'PID-77',
    });
    // Shuffle so sorting by position is what puts the slices in order.
    const shuffled = [...paths].reverse();
    const { volume, warnings, meta } = await readDicomSeries(shuffled);
    assert.deepEqual(warnings, []);
    assert.ok(volume.data instanceof Int16Array, 'CT with integer rescale reads as Int16');
    assertSameGeometry(volume, ct);
    assertSameVoxels(volume, ct);
    assert.equal(meta.modality, 'CT');
    assert.equal(meta.rows, 48);
    assert.equal(meta.columns, 64);
    assert.equal(meta.sopInstanceUids.length, 12);
    assert.ok(meta.sopInstanceUids[0].endsWith('.1') && meta.sopInstanceUids[11].endsWith('.12'));
  }
});

test('synthetic CT: oblique orientation and signed pixels keep the LPS geometry', async (t) => {
  const dir = await tempDir(t);
  const ct = makeSyntheticCt({ dims: [32, 32, 6], spacing: [1, 1.5, 3], seed: 2 });
  const c = Math.cos(0.3);
  const s = Math.sin(0.3);
  ct.direction = [c, 0, s, 0, 1, 0, -s, 0, c];
  ct.origin = [10, -20, 30];
  const paths = await writeSyntheticDicomSeries(dir, ct, { rescaleIntercept: 0 });
  const { volume } = await readDicomSeries(paths);
  assertSameGeometry(volume, ct, 1e-3);
  assertSameVoxels(volume, ct);
});

/**
 * An Enhanced CT Image Storage file (PS3.3 A.38) of `ct`: one frame per slice, stored in `order`, with
 * orientation and pixel measures in the shared functional groups and each frame's position and rescale in
 * its own per-frame group (the intercept differs per frame, so the stored values do too).
 */
function enhancedCtFile(ct: Volume, order: number[]): Buffer {
  const [nx, ny] = ct.dims;
  const d = ct.direction;
  const size = nx * ny;
  const pixels = new Int16Array(size * order.length);
  const perFrame = order.map((k, j) => {
    const intercept = -1000 - 7 * j;
    for (let p = 0; p < size; p++) pixels[j * size + p] = ct.data[k * size + p] - intercept;
    const ipp = [0, 1, 2].map((r) => ct.origin[r] + k * ct.spacing[2] * d[r * 3 + 2]);
    return {
      PlanePositionSequence: [{ ImagePositionPatient: ipp }],
      FrameContentSequence: [{ InStackPositionNumber: k + 1 }],
      PixelValueTransformationSequence: [{ RescaleIntercept: intercept, RescaleSlope: 1, RescaleType: 'HU' }],
    };
  });
  const uid = '2.25.31415926535';
  return writePart10(
    {
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.2.1',
      SOPInstanceUID: `${uid}.1`,
      StudyInstanceUID: `${uid}.2`,
      SeriesInstanceUID: `${uid}.3`,
      FrameOfReferenceUID: `${uid}.4`,
      Modality: 'CT',
      ImageType: ['ORIGINAL', 'PRIMARY', 'VOLUME', 'NONE'],
      InstanceNumber: 1,
      Rows: ny,
      Columns: nx,
      NumberOfFrames: order.length,
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 1,
      SharedFunctionalGroupsSequence: [
        {
          PlaneOrientationSequence: [{ ImageOrientationPatient: [d[0], d[3], d[6], d[1], d[4], d[7]] }],
          PixelMeasuresSequence: [{ PixelSpacing: [ct.spacing[1], ct.spacing[0]], SliceThickness: ct.spacing[2] }],
        },
      ],
      PerFrameFunctionalGroupsSequence: perFrame,
      PixelData: [pixels.buffer],
      _vrMap: { PixelData: 'OW' },
    },
    { classUid: '2.25.1', versionName: 'TEST' },
  );
}

test('enhanced multi-frame CT: per-frame positions and rescale, shared orientation and spacing give the volume of the single-frame series', async (t) => {
  const dir = await tempDir(t);
  const ct = makeSyntheticCt({ dims: [40, 32, 9], spacing: [0.7, 0.8, 1.25], seed: 11 });
  const c = Math.cos(0.2);
  const s = Math.sin(0.2);
  ct.direction = [1, 0, 0, 0, c, s, 0, -s, c];
  ct.origin = [-12, 30, 140];
  const file = join(dir, 'enhanced.dcm');
  // Frames stored out of order: the position along the normal, not the frame number, orders the slices.
  await writeFile(file, enhancedCtFile(ct, [4, 0, 8, 2, 6, 1, 7, 3, 5]));
  const { volume, warnings, meta } = await readDicomSeries([file]);
  assert.deepEqual(warnings, []);
  assertSameGeometry(volume, ct, 1e-3);
  assertSameVoxels(volume, ct);
  assert.equal(meta.sopInstanceUids.length, 9, 'one entry per slice');
  assert.ok(meta.sopInstanceUids.every((u) => u === '2.25.31415926535.1'));

  const single = await readDicomSeries(await writeSyntheticDicomSeries(join(dir, 'single'), ct));
  assertSameGeometry(volume, single.volume, 1e-3);
  assertSameVoxels(volume, single.volume);
});

test('enhanced multi-frame CT of two frames is refused as too few slices', async (t) => {
  const dir = await tempDir(t);
  const ct = makeSyntheticCt({ dims: [16, 16, 2], seed: 5 });
  const file = join(dir, 'two.dcm');
  await writeFile(file, enhancedCtFile(ct, [0, 1]));
  await assert.rejects(
    readDicomSeries([file]),
    (err: unknown) => err instanceof VolumeError && err.code === 'too-few-slices' && /only 2 slice/.test(err.message),
  );
});

test('real: the NEMA two-frame enhanced CT (CT0012) is read frame by frame and refused as too few slices', async (t) => {
  if (!requireTestData(t)) return;
  const file = testDataPath('dicom/compressed_single/explicit_le/dicomParser__CT0012.explicit_little_endian.dcm');
  await assert.rejects(
    readDicomSeries([file]),
    (err: unknown) => err instanceof VolumeError && err.code === 'too-few-slices' && /only 2 slice/.test(err.message),
  );
});

test('synthetic series: missing slice, duplicates, too few, mixed series are refused or fixed with a specific reason', async (t) => {
  const dir = await tempDir(t);
  const ct = makeSyntheticCt({ dims: [16, 16, 8], seed: 3 });
  const paths = await writeSyntheticDicomSeries(join(dir, 'a'), ct);
  await expectVolumeError([...paths.slice(0, 4), ...paths.slice(5)], 'missing-slices');
  await expectVolumeError(paths.slice(0, 2), 'too-few-slices');
  const other = await writeSyntheticDicomSeries(join(dir, 'b'), ct);
  await expectVolumeError([...paths.slice(0, 4), ...other.slice(4)], 'mixed-series');
  // A duplicate file (same position, same series) is dropped with a warning.
  const sameSeries = syntheticDicomSliceBuffers(ct, {
    seriesUid: '2.25.1',
    studyUid: '2.25.2',
    frameOfReferenceUid: '2.25.3',
  });
  const dDir = join(dir, 'd');
  const dPaths = await writeSyntheticDicomSeries(dDir, ct, {
    seriesUid: '2.25.1',
    studyUid: '2.25.2',
    frameOfReferenceUid: '2.25.3',
  });
  const extra = join(dDir, 'extra.dcm');
  await writeFile(extra, sameSeries[5]);
  const { volume, warnings } = await readDicomSeries([...dPaths, extra]);
  assert.equal(volume.dims[2], 8);
  assert.ok(
    warnings.some((w) => /repeated the position/.test(w)),
    warnings.join('; '),
  );
  assertSameVoxels(volume, ct);
});

test('not DICOM and no pixel data are refused', async (t) => {
  const dir = await tempDir(t);
  const text = join(dir, 'a.dcm');
  await writeFile(text, 'hello, this is not DICOM at all');
  await expectVolumeError([text], 'not-dicom');
});

test('gantry tilt (synthetic): positions sheared along the column direction are resampled back', async (t) => {
  const dir = await tempDir(t);
  // A block of constant rows: shearing by whole pixels per slice must come back exactly after correction.
  const ct = makeSyntheticCt({ dims: [20, 20, 5], spacing: [1, 1, 2], seed: 4, noise: 0 });
  // Build the tilted series by hand: slice k moved by k pixels along j and its pixels shifted by k rows.
  const tilted: Volume<Int16Array> = { ...ct, data: new Int16Array(ct.data.length) };
  const [nx, ny, nz] = ct.dims;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        const src = j + k < ny ? ct.data[k * nx * ny + (j + k) * nx + i] : -1024;
        tilted.data[k * nx * ny + j * nx + i] = src;
      }
  const paths: string[] = [];
  for (let k = 0; k < nz; k++) {
    const slice: Volume<Int16Array> = {
      ...tilted,
      dims: [nx, ny, 1],
      origin: [ct.origin[0], ct.origin[1] + k * 1, ct.origin[2] + k * 2],
      data: tilted.data.slice(k * nx * ny, (k + 1) * nx * ny),
    };
    const [buf] = syntheticDicomSliceBuffers(slice, {
      seriesUid: '2.25.9',
      studyUid: '2.25.8',
      frameOfReferenceUid: '2.25.7',
    });
    const p = join(dir, `s${k}.dcm`);
    await writeFile(p, buf);
    paths.push(p);
  }
  const { volume, warnings } = await readDicomSeries(paths);
  assert.ok(
    warnings.some((w) => /Gantry tilt of 26\.6°/.test(w)),
    warnings.join('; '),
  );
  assert.deepEqual(volume.dims, [nx, ny, nz]);
  // Output voxel (i, j, k) must equal tilted slice k at row j - k (within the slice), i.e. the original row j.
  for (let k = 0; k < nz; k++)
    for (let j = k; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        assert.equal(volume.data[k * nx * ny + j * nx + i], tilted.data[k * nx * ny + (j - k) * nx + i]);
      }
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

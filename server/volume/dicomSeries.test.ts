import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDicomSeries, VolumeError } from './dicomSeries.ts';
import { TS } from '../../test/support/dicomPart10.ts';
import {
  makeSyntheticCt,
  syntheticDicomSliceBuffers,
  writeSyntheticDicomSeries,
} from '../../test/support/syntheticCt.ts';
import type { Volume } from './volume.ts';
import { writePart10 } from '../seg/dcmjsData.ts';
import { assertSameGeometry, assertSameVoxels, expectVolumeError } from '../../test/support/volumes.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'volume-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
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

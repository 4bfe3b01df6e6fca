import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { BUILTIN_ALGORITHM } from '../engines/builtin/segmentBody.ts';
import type { LabelMap, Mat3, Vec3 } from '../volume/volume.ts';
import { alignToGrid } from './alignGrid.ts';
import { readDataset, type NaturalDataset } from './dcmjsData.ts';
import { segFromSeries } from './segFromSeries.ts';
import { readDicomSeries } from '../volume/dicomSeries.ts';
import { rgbToDicomLab, SEGMENTATION_STORAGE, SegSourceError, writeSeg } from './segWriter.ts';
import { syntheticSeg } from '../../test/support/syntheticSeg.ts';

type Item = NaturalDataset;
const seq = (ds: Item, key: string): Item[] => (ds[key] as Item[] | undefined) ?? [];
const first = (ds: Item, key: string): Item => seq(ds, key)[0] ?? {};

test('a SEG from the series as the job read it is the SEG from reading the series again', async (t) => {
  const { files, seg, dataset } = await syntheticSeg(t);
  const read = await readDicomSeries(files);
  const again = await segFromSeries({
    files: [files[0]],
    labelMap: seg.labelMap,
    segments: seg.segments,
    algorithmName: 'anatomy-gateway builtin',
    algorithmVersion: '1',
    series: { grid: read.volume, meta: read.meta },
  });
  const reused = readDataset(again.buffer);
  const sources = (ds: Item): unknown[] =>
    seq(ds, 'PerFrameFunctionalGroupsSequence').map((f) => [
      first(f, 'PlanePositionSequence').ImagePositionPatient,
      first(first(f, 'DerivationImageSequence'), 'SourceImageSequence').ReferencedSOPInstanceUID,
    ]);
  assert.equal(reused.NumberOfFrames, dataset.NumberOfFrames);
  assert.deepEqual(sources(reused), sources(dataset), 'same positions and source images, frame by frame');
  assert.deepEqual(new Uint8Array(reused.PixelData as ArrayBuffer), new Uint8Array(dataset.PixelData as ArrayBuffer));
  assert.deepEqual(
    seq(first(reused, 'ReferencedSeriesSequence'), 'ReferencedInstanceSequence'),
    seq(first(dataset, 'ReferencedSeriesSequence'), 'ReferencedInstanceSequence'),
  );
});

test('SEG of a synthetic CT: one segment per label, coded, only non-empty frames, bit-packed, referencing the source', async (t) => {
  const { seg, study, series, files, result, dataset } = await syntheticSeg(t);
  assert.equal(dataset.SOPClassUID, SEGMENTATION_STORAGE);
  assert.equal(dataset.Modality, 'SEG');
  assert.equal(dataset.StudyInstanceUID, study);
  assert.equal(dataset.PatientID, 'SEG-1');
  assert.equal(dataset.SegmentationType, 'BINARY');
  assert.equal(dataset.BitsAllocated, 1);
  assert.equal(dataset.Rows, 40);
  assert.equal(dataset.Columns, 48);

  const segments = seq(dataset, 'SegmentSequence');
  const labelsPresent = [...new Set(seg.labelMap.data)].filter((v) => v > 0).sort();
  assert.equal(segments.length, labelsPresent.length);
  const byName = new Map(segments.map((s) => [s.SegmentLabel as string, s]));
  for (const name of ['body', 'lungs', 'bone']) assert.ok(byName.has(name), `segment ${name}`);
  assert.equal(first(byName.get('lungs') as Item, 'SegmentedPropertyTypeCodeSequence').CodeValue, '39607008');
  assert.equal(first(byName.get('body') as Item, 'SegmentedPropertyTypeCodeSequence').CodeValue, '38266002');
  assert.equal(first(byName.get('bone') as Item, 'SegmentedPropertyTypeCodeSequence').CodeValue, '272673000');
  assert.equal(
    first(byName.get('lungs') as Item, 'SegmentedPropertyCategoryCodeSequence').CodingSchemeDesignator,
    'SCT',
  );
  // Built-in segments name their algorithm and its version (Segment Description macro, CID 7162 family).
  for (const s of segments) {
    assert.equal(s.SegmentAlgorithmType, 'AUTOMATIC');
    assert.equal(s.SegmentAlgorithmName, BUILTIN_ALGORITHM.name);
    const id = first(s, 'SegmentationAlgorithmIdentificationSequence');
    assert.equal(id.AlgorithmName, BUILTIN_ALGORITHM.name);
    assert.equal(id.AlgorithmVersion, BUILTIN_ALGORITHM.version);
    assert.equal(first(id, 'AlgorithmFamilyCodeSequence').CodeValue, '123104');
  }

  // Referenced Series Sequence lists every source instance.
  const refSeries = first(dataset, 'ReferencedSeriesSequence');
  assert.equal(refSeries.SeriesInstanceUID, series);
  assert.equal(seq(refSeries, 'ReferencedInstanceSequence').length, files.length);

  // Frames: exactly the (segment, slice) pairs with voxels, each with its source image and position.
  const [nx, ny, nz] = seg.labelMap.dims;
  const expected: Array<{ segment: number; slice: number; label: number }> = [];
  segments.forEach((s) => {
    const label = seg.segments.find((x) => x.name === s.SegmentLabel)?.label as number;
    for (let k = 0; k < nz; k++) {
      const slice = seg.labelMap.data.subarray(k * nx * ny, (k + 1) * nx * ny);
      if (slice.includes(label)) expected.push({ segment: s.SegmentNumber as number, slice: k, label });
    }
  });
  assert.ok(
    expected.length < segments.length * nz,
    'the synthetic CT has slices without lungs, so some frames are empty',
  );
  assert.equal(Number(dataset.NumberOfFrames), expected.length);
  assert.equal(result.frames, expected.length);
  const perFrame = seq(dataset, 'PerFrameFunctionalGroupsSequence');
  assert.equal(perFrame.length, expected.length);
  const srcUids = (await Promise.all(files.map(async (f) => readDataset(await readFile(f))))).map((d) => ({
    uid: d.SOPInstanceUID,
    ipp: d.ImagePositionPatient as number[],
  }));
  const pixels = new Uint8Array((dataset.PixelData as ArrayBuffer[])[0]);
  perFrame.forEach((frame, f) => {
    const exp = expected[f];
    assert.equal(first(frame, 'SegmentIdentificationSequence').ReferencedSegmentNumber, exp.segment);
    const source = first(first(frame, 'DerivationImageSequence'), 'SourceImageSequence');
    assert.equal(source.ReferencedSOPInstanceUID, srcUids[exp.slice].uid);
    const ipp = first(frame, 'PlanePositionSequence').ImagePositionPatient as number[];
    ipp.forEach((v, d) => assert.ok(Math.abs(v - srcUids[exp.slice].ipp[d]) < 1e-3));
    // Bit-packed, frames back to back, first pixel in the lowest bit.
    for (let p = 0; p < nx * ny; p++) {
      const bit = f * nx * ny + p;
      const on = (pixels[bit >>> 3] >> (bit & 7)) & 1;
      assert.equal(on, seg.labelMap.data[exp.slice * nx * ny + p] === exp.label ? 1 : 0);
    }
  });
});

test('frames on slices that match no image carry an empty Derivation Image; without a Frame of Reference such a SEG is refused', () => {
  const labelMap: LabelMap = {
    dims: [4, 3, 2],
    spacing: [1, 1, 2],
    origin: [0, 0, 0],
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    data: new Uint8Array(24).fill(1),
  };
  const image = { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.3.1' };
  const source = {
    header: {},
    studyInstanceUid: '1.2.3',
    seriesInstanceUid: '1.2.3.4',
    frameOfReferenceUid: '1.2.3.5',
    planes: [
      { position: [0, 0, 0] as Vec3, source: image },
      { position: [0, 0, 2] as Vec3, source: undefined },
    ],
    instances: [image, { ...image, sopInstanceUid: '1.2.3.2' }],
  };
  const seg = writeSeg({ labelMap, segments: [{ label: 1, name: 'liver' }], source, algorithmName: 'test' });
  const frames = seq(readDataset(seg.buffer), 'PerFrameFunctionalGroupsSequence');
  assert.equal(
    first(first(frames[0], 'DerivationImageSequence'), 'SourceImageSequence').ReferencedSOPInstanceUID,
    '1.2.3.1',
  );
  assert.deepEqual(frames[1].DerivationImageSequence, []);
  assert.deepEqual(first(frames[1], 'PlanePositionSequence').ImagePositionPatient, [0, 0, 2]);
  assert.match(seg.warnings.join('\n'), /1 of 2 frames lie on slices of the resampled grid/);
  assert.throws(
    () =>
      writeSeg({
        labelMap,
        segments: [{ label: 1, name: 'liver' }],
        source: { ...source, frameOfReferenceUid: '' },
        algorithmName: 'test',
      }),
    (e: unknown) => e instanceof SegSourceError && /no Frame of Reference UID and were resampled/.test(e.message),
  );
  assert.throws(
    () =>
      writeSeg({
        labelMap,
        segments: [{ label: 1, name: 'liver' }],
        source: { ...source, studyInstanceUid: '' },
        algorithmName: 'test',
      }),
    /no Study Instance UID/,
  );
});

test('a label map with flipped axes is put back onto the source grid', () => {
  const dims: Vec3 = [3, 2, 2];
  const data = new Uint8Array(12).map((_, i) => i + 1);
  const grid = {
    dims,
    spacing: [1, 2, 3] as Vec3,
    origin: [10, 20, 30] as Vec3,
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3,
  };
  // The same voxels with i and k reversed: origin at the far corner of those axes.
  const flipped = new Uint8Array(12);
  for (let k = 0; k < 2; k++)
    for (let j = 0; j < 2; j++)
      for (let i = 0; i < 3; i++) flipped[((1 - k) * 2 + j) * 3 + (2 - i)] = data[(k * 2 + j) * 3 + i];
  const labels: LabelMap = {
    dims,
    spacing: [1, 2, 3],
    origin: [12, 20, 33],
    direction: [-1, 0, 0, 0, 1, 0, 0, 0, -1],
    data: flipped,
  };
  assert.deepEqual([...alignToGrid(labels, grid).data], [...data]);
  assert.throws(() => alignToGrid({ ...labels, spacing: [1, 2, 2] }, grid), /spacing/);
});

test('CIELab of white and of a colour follow the DICOM encoding', () => {
  assert.deepEqual(rgbToDicomLab([1, 1, 1]), [65535, 32896, 32896]);
  const [L] = rgbToDicomLab([0, 0, 0]);
  assert.equal(L, 0);
});

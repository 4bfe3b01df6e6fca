import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import { segmentBody } from '../../server/engines/builtin/segmentBody.ts';
import { readDicomSeries } from '../../server/volume/dicomSeries.ts';
import { tempDataDir } from '../support/db.ts';
import { dciodvfy, hasDciodvfy } from '../support/dciodvfy.ts';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { readDataset, type NaturalDataset } from '../../server/seg/dcmjsData.ts';
import { segFromSeries } from '../../server/seg/segFromSeries.ts';
import { SegSourceError } from '../../server/seg/segWriter.ts';

/**
 * SEGs made from the real CT series in the shared data, checked against their source images: by
 * dciodvfy, and by the geometry of every frame against the image it names.
 */

type Item = NaturalDataset;
const seq = (ds: Item, key: string): Item[] => (ds[key] as Item[] | undefined) ?? [];
const first = (ds: Item, key: string): Item => seq(ds, key)[0] ?? {};

const CT_SERIES = [
  'dicom/ct_series/dcmqa_ge_head_tilt_28sl',
  'dicom/ct_series/dcmqa_philips_phantom_tilt_54sl',
  'dicom/ct_series/slicer_cthead_93sl_64px',
  'dicom/ct_series/totalseg_torso_20sl_j2k',
  'derived_made_here/dicom/totalseg_torso_20sl_uids_uncompressed',
  'derived_made_here/dicom/totalseg_torso_20sl_uids_jpeg_lossless_sv1_4.70',
  'derived_made_here/dicom/totalseg_torso_20sl_uids_j2k_4.90',
];

async function filesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort().map((f) => join(dir, f));
}

/** The SEG the process job makes: the built-in engine's labels on the series as read. */
async function segOf(t: TestContext, dir: string) {
  const files = await filesIn(testDataPath(dir));
  const read = await readDicomSeries(files);
  const seg = segmentBody(read.volume);
  const result = await segFromSeries({
    files,
    labelMap: seg.labelMap,
    segments: seg.segments,
    algorithmName: 'anatomy-gateway built-in',
    series: { grid: read.volume, meta: read.meta },
  });
  const file = join(await tempDataDir(t), 'seg.dcm');
  await writeFile(file, result.buffer);
  return { files, read, result, file, dataset: readDataset(result.buffer) };
}

interface SourceImage {
  file: string;
  sopInstanceUid: string;
  position: number[];
  orientation: number[];
  /** Between rows, between columns. */
  pixelSpacing: number[];
  rows: number;
  columns: number;
}

async function sourceImages(files: string[]): Promise<Map<string, SourceImage>> {
  const out = new Map<string, SourceImage>();
  for (const file of files) {
    const ds = dicomParser.parseDicom(new Uint8Array(await readFile(file)), { untilTag: 'x7fe00010' });
    const nums = (tag: string) => (ds.string(tag) ?? '').split('\\').filter(Boolean).map(Number);
    if (nums('x00200032').length !== 3) continue; // a DICOMDIR travels with the Philips series
    const sopInstanceUid = ds.string('x00080018') || (ds.string('x00020003') ?? '');
    out.set(sopInstanceUid, {
      file,
      sopInstanceUid,
      position: nums('x00200032'),
      orientation: nums('x00200037'),
      pixelSpacing: nums('x00280030'),
      rows: ds.uint16('x00280010') ?? 0,
      columns: ds.uint16('x00280011') ?? 0,
    });
  }
  return out;
}

/** Largest distance between pixel (i, j) of two planes over the image corners: in pixels in plane, in slices across. */
function cornerOffset(
  a: { position: number[]; orientation: number[]; pixelSpacing: number[] },
  b: { position: number[]; orientation: number[]; pixelSpacing: number[] },
  size: { rows: number; columns: number },
  sliceSpacing: number,
): number {
  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const cross = (u: number[], v: number[]) => [
    u[1] * v[2] - u[2] * v[1],
    u[2] * v[0] - u[0] * v[2],
    u[0] * v[1] - u[1] * v[0],
  ];
  const dot = (u: number[], v: number[]) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  const at = (p: typeof a, i: number, j: number) => {
    const r = unit(p.orientation.slice(0, 3));
    const c = unit(p.orientation.slice(3, 6));
    return [0, 1, 2].map((d) => p.position[d] + r[d] * p.pixelSpacing[1] * i + c[d] * p.pixelSpacing[0] * j);
  };
  const r = unit(a.orientation.slice(0, 3));
  const c = unit(a.orientation.slice(3, 6));
  const n = cross(r, c);
  let worst = 0;
  for (const i of [0, size.columns - 1])
    for (const j of [0, size.rows - 1]) {
      const pa = at(a, i, j);
      const pb = at(b, i, j);
      const d = [0, 1, 2].map((k) => pb[k] - pa[k]);
      worst = Math.max(
        worst,
        Math.abs(dot(d, r)) / a.pixelSpacing[1],
        Math.abs(dot(d, c)) / a.pixelSpacing[0],
        Math.abs(dot(d, n)) / sliceSpacing,
      );
    }
  return worst;
}

test('real: every SEG made from the shared CT series passes dciodvfy with no error the source images do not have themselves', async (t) => {
  if (!requireTestData(t)) return;
  if (!requireOrSkip(t, hasDciodvfy(), 'dciodvfy (Debian: dicom3tools)')) return;
  for (const dir of CT_SERIES) {
    const files = await filesIn(testDataPath(dir));
    const sourceErrors = new Set<string>();
    for (let i = 0; i < files.length; i += 4) {
      const reports = await Promise.all(files.slice(i, i + 4).map((f) => dciodvfy(f)));
      for (const r of reports) for (const e of r.errors) sourceErrors.add(e);
    }
    let made;
    try {
      made = await segOf(t, dir);
    } catch (e) {
      // The TotalSegmentator example has empty UIDs: no SEG can be filed with it, and the reason is given.
      assert.ok(e instanceof SegSourceError, `${dir}: ${(e as Error).message}`);
      assert.match(e.message, /the source images have no Study Instance UID/);
      assert.ok([...sourceErrors].some((s) => /SOPInstanceUID different from SOPInstanceUID/.test(s)));
      continue;
    }
    const report = await dciodvfy(made.file);
    const own = report.errors.filter((e) => !sourceErrors.has(e));
    assert.deepEqual(own, [], `${dir}:\n${report.output}`);
    // Whatever the frames name, the series and every image the labels were computed from are referenced.
    const refSeries = first(made.dataset, 'ReferencedSeriesSequence');
    assert.equal(refSeries.SeriesInstanceUID, made.read.meta.seriesInstanceUid, dir);
    const images = new Set(made.read.meta.slices.map((s) => s.sopInstanceUid));
    assert.deepEqual(
      new Set(seq(refSeries, 'ReferencedInstanceSequence').map((i) => i.ReferencedSOPInstanceUID)),
      images,
      dir,
    );
    assert.deepEqual(
      new Set(seq(made.dataset, 'SourceImageSequence').map((i) => i.ReferencedSOPInstanceUID)),
      images,
      dir,
    );
  }
});

test('real: the SEG of the gantry-tilted Philips phantom names an image only for frames lying on it pixel for pixel', async (t) => {
  if (!requireTestData(t)) return;
  const { files, read, result, dataset } = await segOf(t, 'dicom/ct_series/dcmqa_philips_phantom_tilt_54sl');
  assert.ok(
    read.warnings.some((w) => /Gantry tilt/.test(w)),
    'the series is tilted and was resampled',
  );
  const images = await sourceImages(files);
  const shared = first(dataset, 'SharedFunctionalGroupsSequence');
  const orientation = first(shared, 'PlaneOrientationSequence').ImageOrientationPatient as number[];
  const measures = first(shared, 'PixelMeasuresSequence');
  const pixelSpacing = measures.PixelSpacing as number[];
  const sliceSpacing = Number(measures.SpacingBetweenSlices);
  const size = { rows: Number(dataset.Rows), columns: Number(dataset.Columns) };
  const frames = seq(dataset, 'PerFrameFunctionalGroupsSequence');
  assert.equal(frames.length, result.frames);
  let named = 0;
  for (const [f, frame] of frames.entries()) {
    const plane = {
      position: first(frame, 'PlanePositionSequence').ImagePositionPatient as number[],
      orientation,
      pixelSpacing,
    };
    const derivation = seq(frame, 'DerivationImageSequence');
    const ref = first(first(frame, 'DerivationImageSequence'), 'SourceImageSequence').ReferencedSOPInstanceUID;
    if (ref) {
      named++;
      const image = images.get(String(ref));
      assert.ok(image, `frame ${f + 1} names an image of the series`);
      assert.deepEqual([image.rows, image.columns], [size.rows, size.columns]);
      const offset = cornerOffset(plane, image, size, sliceSpacing);
      assert.ok(offset < 1e-3, `frame ${f + 1} lies ${offset.toFixed(3)} pixels off ${image.file}`);
    } else {
      // Type 2: present and empty. No image of the series lies where the frame does.
      assert.ok('DerivationImageSequence' in frame && derivation.length === 0, `frame ${f + 1}`);
      const nearest = Math.min(...[...images.values()].map((image) => cornerOffset(plane, image, size, sliceSpacing)));
      assert.ok(nearest > 0.5, `frame ${f + 1} matches an image within ${nearest.toFixed(3)} pixels yet names none`);
    }
  }
  // The tilt moves each image off the rectilinear grid: only the first slice's frames can name theirs.
  const onFirstSlice = frames.filter((frame) => {
    const p = first(frame, 'PlanePositionSequence').ImagePositionPatient as number[];
    return p.every((v, d) => Math.abs(v - read.volume.origin[d]) < 1e-3);
  }).length;
  assert.ok(onFirstSlice > 0 && onFirstSlice < frames.length);
  assert.equal(named, onFirstSlice);
  assert.ok(result.warnings.some((w) => new RegExp(`${frames.length - named} of ${frames.length} frames`).test(w)));
});

test('real: a series without a Frame of Reference UID gets a SEG placed through its images alone', async (t) => {
  if (!requireTestData(t)) return;
  const { files, read, dataset } = await segOf(t, 'dicom/ct_series/slicer_cthead_93sl_64px');
  assert.equal(read.meta.frameOfReferenceUid, '');
  assert.equal(dataset.FrameOfReferenceUID, undefined);
  assert.deepEqual(first(dataset, 'SharedFunctionalGroupsSequence'), {});
  assert.deepEqual(dataset.PatientOrientation, ['L', 'P']);
  const images = await sourceImages(files);
  const byPosition = [...images.values()].sort((a, b) => a.position[2] - b.position[2]);
  for (const frame of seq(dataset, 'PerFrameFunctionalGroupsSequence')) {
    assert.equal(seq(frame, 'PlanePositionSequence').length, 0);
    const content = first(frame, 'FrameContentSequence');
    const ref = first(first(frame, 'DerivationImageSequence'), 'SourceImageSequence').ReferencedSOPInstanceUID;
    // In-Stack Position n is the n-th image along the normal, and the frame names exactly that image.
    assert.equal(ref, byPosition[Number(content.InStackPositionNumber) - 1].sopInstanceUid);
  }
});

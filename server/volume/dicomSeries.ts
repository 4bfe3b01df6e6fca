import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { DataSet } from 'dicom-parser';
import { VolumeError } from './errors.ts';
import { resample } from './resampleSlices.ts';
import { checkAbort, parse, scanSeriesFiles, type SliceInfo } from './seriesFiles.ts';
import { cross, dot, fromColumns, normalize } from './geometry.ts';
import { decodeFrame } from './pixelData.ts';
import type { Vec3, Volume, VoxelArray } from './volume.ts';

export { VolumeError } from './errors.ts';
export type { VolumeErrorCode } from './errors.ts';

/**
 * A DICOM series (one file per slice, or multi-frame files) to one LPS volume, the way dcm2niix and ITK
 * do it: slices sorted along the normal of ImageOrientationPatient by ImagePositionPatient, rescale
 * applied, gantry tilt resampled away, and every input that is not one regular volume refused with a
 * reason a user can act on. Messages never include patient data; files are named by base name only.
 */

export interface DicomSeriesMeta {
  modality: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  seriesDescription: string;
  frameOfReferenceUid: string;
  /** In slice order (one entry per slice; a multi-frame file repeats its UID per frame). */
  sopInstanceUids: string[];
  /** The same slices as stored: the plane each image lies in, for outputs that must name the image they match. */
  slices: SourceSlice[];
  rows: number;
  columns: number;
}

export interface SourceSlice {
  sopClassUid: string;
  sopInstanceUid: string;
  /** 1-based frame of a multi-frame instance; undefined for a single-frame one. */
  frameNumber: number | undefined;
  /** Image Position and Orientation (Patient) and Pixel Spacing (between rows, between columns). */
  position: Vec3;
  orientation: number[];
  pixelSpacing: [number, number];
}

export interface DicomSeriesResult {
  volume: Volume;
  warnings: string[];
  meta: DicomSeriesMeta;
}

const fmtMm = (v: number): string => `${Number(v.toFixed(2))} mm`;

export async function readDicomSeries(
  files: string[],
  opts: { signal?: AbortSignal } = {},
): Promise<DicomSeriesResult> {
  const warnings: string[] = [];
  if (files.length === 0) throw new VolumeError('too-few-slices', 'No DICOM files were given.');

  // Pass 1: headers only (each file buffer is dropped after parsing, so memory stays at one file).
  const { infos, slices, meta } = await scanSeriesFiles(files, warnings, opts.signal);

  // One series, one image size.
  const seriesUids = new Set(infos.map((i) => i.seriesUid));
  if (seriesUids.size > 1)
    throw new VolumeError(
      'mixed-series',
      `The files belong to ${seriesUids.size} different series; send one series at a time.`,
      { warnings },
    );
  const f0 = infos[0].format;
  for (const info of infos) {
    const f = info.format;
    if (f.rows !== f0.rows || f.columns !== f0.columns || f.bitsAllocated !== f0.bitsAllocated) {
      throw new VolumeError(
        'inconsistent-images',
        `The images differ in size (${f0.columns}x${f0.rows} and ${f.columns}x${f.rows}), so they cannot be stacked into one volume.`,
        { warnings },
      );
    }
  }

  // Orientation: all slices must share it.
  const iop0 = slices[0].orientation;
  for (const s of slices) {
    if (s.orientation.some((v, i) => Math.abs(v - iop0[i]) > 1e-3)) {
      throw new VolumeError(
        'mixed-orientation',
        'The images have different orientations (e.g. axial and sagittal slices mixed in one folder); send each orientation as its own series.',
        { warnings },
      );
    }
  }
  const row = normalize(iop0.slice(0, 3));
  const col = normalize(iop0.slice(3, 6));
  const normal = normalize(cross(row, col));
  for (const s of slices) s.along = dot(s.position, normal);
  slices.sort((a, b) => a.along - b.along || a.instanceNumber - b.instanceNumber);

  // Duplicates: same position. All at one position is not a volume at all.
  const spacingTol = 1e-3 * Math.max(1, Math.abs(slices[slices.length - 1].along - slices[0].along)) + 1e-3;
  const unique: SliceInfo[] = [];
  let duplicates = 0;
  for (const s of slices) {
    const last = unique[unique.length - 1];
    if (last && Math.abs(s.along - last.along) < Math.max(spacingTol, 0.01)) {
      duplicates++;
      continue;
    }
    unique.push(s);
  }
  if (unique.length === 1 && slices.length > 1) {
    throw new VolumeError(
      'not-a-volume',
      `All ${slices.length} images lie at the same position, so they do not form a volume (repeated acquisitions or a time series of one slice).`,
      { warnings },
    );
  }
  if (duplicates > 0) {
    const perPosition = slices.length / unique.length;
    if (Number.isInteger(perPosition) && perPosition > 1 && unique.length >= 3) {
      throw new VolumeError(
        'multiple-volumes',
        `Every position holds ${perPosition} images (several phases, echoes or time points in one series); send each volume as its own series.`,
        { warnings },
      );
    }
    warnings.push(
      `${duplicates} image(s) repeated the position of another slice and were dropped (kept the first by instance number).`,
    );
  }
  if (unique.length < 3) {
    throw new VolumeError(
      'too-few-slices',
      `The series has only ${unique.length} slice(s); at least 3 are needed to build a 3D volume.`,
      { warnings },
    );
  }

  // Spacing: uniform, or a gap that is a whole multiple (missing slices), or irregular (resampled).
  const gaps = unique.slice(1).map((s, i) => s.along - unique[i].along);
  const sorted = [...gaps].sort((a, b) => a - b);
  const typical = sorted[Math.floor(sorted.length / 2)];
  const maxGap = sorted[sorted.length - 1];
  const near = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(0.01 * b, 0.02);
  const irregular = gaps.some((g) => !near(g, typical));
  let uniformSpacing = typical;
  if (irregular) {
    // The base step is the smallest gap that repeats (a one-off short gap is a transition between blocks).
    const repeated = sorted.filter((g) => sorted.filter((h) => near(h, g)).length >= 2);
    const base = repeated.length ? repeated[0] : sorted[0];
    const wholeMultiples = gaps.every((g) => g >= base * 0.95 && Math.abs(g / base - Math.round(g / base)) < 0.05);
    if (wholeMultiples || maxGap > 4 * base) {
      const missing = wholeMultiples ? gaps.reduce((n, g) => n + Math.round(g / base) - 1, 0) : null;
      const at = gaps.findIndex((g) => g === maxGap);
      throw new VolumeError(
        'missing-slices',
        `${missing === null ? 'Slices are missing' : `${missing} slice(s) are missing`}: the slices are ${fmtMm(base)} apart but there is a gap of ${fmtMm(maxGap)} after slice ${at + 1} of ${unique.length}. Send the complete series (check that the transfer finished).`,
        { warnings },
      );
    }
    uniformSpacing = base;
    warnings.push(
      `Slice spacing varies (${fmtMm(sorted[0])} to ${fmtMm(maxGap)}); the volume was resampled to ${fmtMm(base)} slices.`,
    );
  }

  // Gantry tilt: positions drift within the image plane from slice to slice.
  const first = unique[0];
  const inPlane = unique.map((s) => {
    const d: Vec3 = [
      s.position[0] - first.position[0],
      s.position[1] - first.position[1],
      s.position[2] - first.position[2],
    ];
    return { u: dot(d, row), v: dot(d, col) };
  });
  const lastShift = inPlane[inPlane.length - 1];
  const [sx, sy] = [first.pixelSpacing[1], first.pixelSpacing[0]]; // PixelSpacing is row spacing (between rows), then column spacing
  const tilted = Math.abs(lastShift.u) > 0.01 * sx || Math.abs(lastShift.v) > 0.01 * sy;
  if (tilted) {
    const span = unique[unique.length - 1].along - first.along;
    const angle = (Math.atan2(Math.hypot(lastShift.u, lastShift.v), span) * 180) / Math.PI;
    warnings.push(`Gantry tilt of ${angle.toFixed(1)}° corrected: slices were resampled onto a rectilinear grid.`);
  }

  // Output type: Int16 when the rescale is integral (CT), widened only if a value does not fit.
  const integral = unique.every((s) => Number.isInteger(s.slope) && Number.isInteger(s.intercept));
  const nx = f0.columns;
  const ny = f0.rows;
  const sliceSize = nx * ny;
  const nzIn = unique.length;
  const nz = irregular ? Math.round((unique[nzIn - 1].along - first.along) / uniformSpacing) + 1 : nzIn;
  const needsResample = irregular || tilted;

  // Pass 2: decode slice by slice. Without resampling, straight into the output; else into a stack first.
  let out: VoxelArray = integral ? new Int16Array(sliceSize * nzIn) : new Float32Array(sliceSize * nzIn);
  let ds: DataSet | null = null;
  let dsFile = -1;
  for (let k = 0; k < nzIn; k++) {
    checkAbort(opts.signal);
    const s = unique[k];
    if (dsFile !== s.file) {
      const info = infos[s.file];
      ds = parse(await readFile(info.path), basename(info.path));
      dsFile = s.file;
    }
    const info = infos[s.file];
    const stored = await decodeFrame(ds as DataSet, info.transferSyntax, info.format, s.frame);
    const base = k * sliceSize;
    if (out instanceof Int16Array) {
      let overflow = false;
      for (let p = 0; p < sliceSize; p++) {
        const v = stored[p] * s.slope + s.intercept;
        if (v < -32768 || v > 32767) {
          overflow = true;
          break;
        }
        out[base + p] = v;
      }
      if (overflow) {
        // Rare (e.g. 16-bit unsigned MR): widen once to Int32 and carry on.
        const wide: Int32Array = new Int32Array(out.length);
        wide.set(out.subarray(0, base));
        out = wide;
      } else {
        continue;
      }
    }
    for (let p = 0; p < sliceSize; p++) out[base + p] = stored[p] * s.slope + s.intercept;
  }
  // The last parsed file is not needed while the resampler allocates its output.
  // eslint-disable-next-line no-useless-assignment
  ds = null;

  const spacing: Vec3 = [sx, sy, irregular ? uniformSpacing : typical];
  if (needsResample) {
    out = resample(out, {
      nx,
      ny,
      nzIn,
      nz,
      sx,
      sy,
      spacingZ: spacing[2],
      along: unique.map((s) => s.along - first.along),
      shifts: inPlane,
    });
  }
  const volume: Volume = {
    dims: [nx, ny, nz],
    spacing,
    origin: [...first.position] as Vec3,
    direction: fromColumns(row, col, normal),
    data: out,
    modality: meta.modality || undefined,
  };
  return {
    volume,
    warnings,
    meta: {
      ...meta,
      sopInstanceUids: unique.map((s) => s.sopInstanceUid),
      slices: unique.map((s) => ({
        sopClassUid: s.sopClassUid,
        sopInstanceUid: s.sopInstanceUid,
        frameNumber: s.multiFrame ? s.frame + 1 : undefined,
        position: s.position,
        orientation: s.orientation,
        pixelSpacing: s.pixelSpacing,
      })),
      rows: ny,
      columns: nx,
    },
  };
}

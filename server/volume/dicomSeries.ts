import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { VolumeError } from './errors.ts';
import { cross, dot, fromColumns, normalize } from './geometry.ts';
import { assertSupportedTransferSyntax, decodeFrame, readPixelFormat } from './pixelData.ts';
import type { PixelFormat } from './pixelData.ts';
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

const SECONDARY_CAPTURE_CLASSES = new Set([
  '1.2.840.10008.5.1.4.1.1.7',
  '1.2.840.10008.5.1.4.1.1.7.1',
  '1.2.840.10008.5.1.4.1.1.7.2',
  '1.2.840.10008.5.1.4.1.1.7.3',
  '1.2.840.10008.5.1.4.1.1.7.4',
]);

/** One 2D image of the series: a single-frame file, or one frame of a multi-frame file. */
interface SliceInfo {
  file: number;
  frame: number;
  multiFrame: boolean;
  sopClassUid: string;
  sopInstanceUid: string;
  instanceNumber: number;
  position: Vec3;
  orientation: number[];
  pixelSpacing: [number, number];
  slope: number;
  intercept: number;
  /** Distance along the series normal, filled in once the normal is known. */
  along: number;
}

interface FileInfo {
  path: string;
  transferSyntax: string;
  format: PixelFormat;
  seriesUid: string;
}

function numbers(s: string | undefined): number[] {
  if (!s) return [];
  return s.split('\\').map((x) => Number(x.trim()));
}

function seqItem(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

/** Geometry of frame f, from per-frame then shared functional groups (enhanced multi-frame), then the top level. */
function frameGeometry(
  ds: DataSet,
  f: number,
): { ipp: number[]; iop: number[]; spacing: number[]; slope?: number; intercept?: number } {
  const perFrame = ds.elements.x52009230?.items?.[f]?.dataSet;
  const shared = ds.elements.x52009229?.items?.[0]?.dataSet;
  const pick = (seqTag: string, tag: string): string | undefined =>
    seqItem(perFrame, seqTag)?.string(tag) ?? seqItem(shared, seqTag)?.string(tag);
  const ipp = numbers(pick('x00209113', 'x00200032') ?? ds.string('x00200032'));
  const iop = numbers(pick('x00209116', 'x00200037') ?? ds.string('x00200037'));
  const spacing = numbers(pick('x00289110', 'x00280030') ?? ds.string('x00280030') ?? ds.string('x00181164'));
  const slopeS = pick('x00289145', 'x00281053') ?? ds.string('x00281053');
  const interS = pick('x00289145', 'x00281052') ?? ds.string('x00281052');
  return {
    ipp,
    iop,
    spacing,
    slope: slopeS !== undefined && slopeS !== '' ? Number(slopeS) : undefined,
    intercept: interS !== undefined && interS !== '' ? Number(interS) : undefined,
  };
}

function parse(buf: Buffer, name: string): DataSet {
  if (buf.length < 132 || buf.toString('latin1', 128, 132) !== 'DICM') {
    throw new VolumeError(
      'not-dicom',
      `"${name}" is not a DICOM Part-10 file (no "DICM" marker after the 128-byte preamble).`,
    );
  }
  try {
    return dicomParser.parseDicom(buf);
  } catch (err) {
    // dicom-parser throws strings, Errors, or { exception, dataSet } objects.
    const ex =
      typeof err === 'object' && err !== null && 'exception' in err ? (err as { exception: unknown }).exception : err;
    const reason = typeof ex === 'string' ? ex : ex instanceof Error ? ex.message : 'unreadable';
    throw new VolumeError(
      'not-dicom',
      `"${name}" could not be parsed as DICOM (${reason.replace(/^dicomParser\.\w+: ?/, '')}); the file is truncated or damaged.`,
      { cause: err },
    );
  }
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted)
    throw signal.reason instanceof Error ? signal.reason : new Error('Reading the series was cancelled.');
}

const fmtMm = (v: number): string => `${Number(v.toFixed(2))} mm`;

export async function readDicomSeries(
  files: string[],
  opts: { signal?: AbortSignal } = {},
): Promise<DicomSeriesResult> {
  const warnings: string[] = [];
  if (files.length === 0) throw new VolumeError('too-few-slices', 'No DICOM files were given.');

  // Pass 1: headers only (each file buffer is dropped after parsing, so memory stays at one file).
  const infos: FileInfo[] = [];
  const slices: SliceInfo[] = [];
  let meta: Omit<DicomSeriesMeta, 'sopInstanceUids' | 'slices' | 'rows' | 'columns'> | null = null;
  const excluded = { localizer: 0, secondary: 0, noPixels: 0 };
  const exclusions: Partial<Record<'localizer' | 'secondary' | 'noPixels', VolumeError>> = {};
  for (const path of files) {
    checkAbort(opts.signal);
    const name = basename(path);
    const ds = parse(await readFile(path), name);
    const sopClass = (ds.string('x00080016') || ds.string('x00020002') || '').trim();
    const imageType = (ds.string('x00080008') ?? '')
      .toUpperCase()
      .split('\\')
      .map((s) => s.trim());
    const pixelEl = ds.elements.x7fe00010;
    if (!pixelEl || pixelEl.length === 0) {
      // DICOMDIR files and structured reports often travel with a series: skip them, refuse if nothing else.
      excluded.noPixels++;
      exclusions.noPixels ??= new VolumeError(
        'no-pixel-data',
        `"${name}" holds no pixel data (it is a ${sopClass === '1.2.840.10008.1.3.10' ? 'DICOMDIR' : 'non-image object such as a report or structure set'}), so there is no image to build a volume from.`,
      );
      continue;
    }
    const transferSyntax = (ds.string('x00020010') ?? '').trim().replace(/\0/g, '');
    assertSupportedTransferSyntax(transferSyntax);
    if (SECONDARY_CAPTURE_CLASSES.has(sopClass)) {
      excluded.secondary++;
      exclusions.secondary ??= new VolumeError(
        'secondary-capture',
        'The images are secondary captures (screenshots such as dose reports, protocol pages or saved views), not slices of a scan; send the original CT or MR series.',
      );
      continue;
    }
    if (imageType.includes('LOCALIZER') || imageType.includes('SCOUT') || imageType.includes('SURVIEW')) {
      excluded.localizer++;
      exclusions.localizer ??= new VolumeError(
        'localizer',
        'The images are localizers (scout/surview projection images), not cross-sectional slices; send the axial (or other reconstructed) series instead.',
      );
      continue;
    }
    const format = readPixelFormat(ds);
    if (format.samplesPerPixel !== 1) {
      throw new VolumeError(
        'inconsistent-images',
        `"${name}" is a colour image (${format.photometricInterpretation || `${format.samplesPerPixel} samples per pixel`}); only greyscale CT/MR slices can form a volume.`,
      );
    }
    const seriesUid = (ds.string('x0020000e') ?? '').trim();
    meta ??= {
      modality: (ds.string('x00080060') ?? '').trim(),
      seriesInstanceUid: seriesUid,
      studyInstanceUid: (ds.string('x0020000d') ?? '').trim(),
      seriesDescription: (ds.string('x0008103e') ?? '').trim(),
      frameOfReferenceUid: (ds.string('x00200052') ?? '').trim(),
    };
    const fileIndex = infos.length;
    infos.push({ path, transferSyntax, format, seriesUid });
    const sopInstanceUid = (ds.string('x00080018') || ds.string('x00020003') || '').trim();
    const instanceNumber = ds.intString('x00200013') ?? 0;
    for (let f = 0; f < format.numberOfFrames; f++) {
      const g = frameGeometry(ds, f);
      if (g.ipp.length !== 3 || g.iop.length !== 6 || [...g.ipp, ...g.iop].some((v) => !Number.isFinite(v))) {
        throw new VolumeError(
          'missing-geometry',
          `"${name}" has no usable Image Position/Orientation (Patient), so its place in the volume is unknown. Is it a slice of a CT/MR scan?`,
        );
      }
      const ps = g.spacing.length >= 2 && g.spacing.every((v) => Number.isFinite(v) && v > 0) ? g.spacing : null;
      if (!ps) warnings.push(`"${name}" has no Pixel Spacing; 1 mm was assumed.`);
      slices.push({
        file: fileIndex,
        frame: f,
        multiFrame: format.numberOfFrames > 1,
        sopClassUid: sopClass,
        sopInstanceUid,
        instanceNumber: instanceNumber * 100000 + f,
        position: [g.ipp[0], g.ipp[1], g.ipp[2]],
        orientation: g.iop,
        pixelSpacing: ps ? [ps[0], ps[1]] : [1, 1],
        slope: g.slope !== undefined && Number.isFinite(g.slope) && g.slope !== 0 ? g.slope : 1,
        intercept: g.intercept !== undefined && Number.isFinite(g.intercept) ? g.intercept : 0,
        along: 0,
      });
    }
  }
  // When nothing usable is left, the most telling reason wins: images that are not slices over files without images.
  const exclusionError =
    excluded.secondary >= excluded.localizer
      ? (exclusions.secondary ?? exclusions.localizer ?? exclusions.noPixels)
      : (exclusions.localizer ?? exclusions.noPixels);
  if (slices.length === 0 || !meta)
    throw exclusionError ?? new VolumeError('no-pixel-data', 'None of the files holds an image.');
  if (excluded.localizer) warnings.push(`${excluded.localizer} localizer image(s) were left out of the volume.`);
  if (excluded.secondary)
    warnings.push(`${excluded.secondary} secondary-capture image(s) were left out of the volume.`);
  if (excluded.noPixels)
    warnings.push(`${excluded.noPixels} file(s) without pixel data (DICOMDIR, reports) were ignored.`);

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

/**
 * Output slice k lies at distance k*spacingZ along the normal from the first slice, with the first
 * slice's in-plane origin. It is interpolated linearly between the two nearest input slices (irregular
 * spacing), each sampled bilinearly at the in-plane shift that slice had (gantry tilt), as dcm2niix does.
 * Samples falling outside an input slice take the lowest value of the volume (air for CT).
 */
function resample(
  src: VoxelArray,
  g: {
    nx: number;
    ny: number;
    nzIn: number;
    nz: number;
    sx: number;
    sy: number;
    spacingZ: number;
    along: number[];
    shifts: { u: number; v: number }[];
  },
): VoxelArray {
  const { nx, ny, nzIn, nz } = g;
  const sliceSize = nx * ny;
  let background = Infinity;
  for (let i = 0; i < src.length; i++) if (src[i] < background) background = src[i];
  const out = new (src.constructor as new (n: number) => VoxelArray)(sliceSize * nz);
  const integer = !(out instanceof Float32Array || out instanceof Float64Array);
  const sampleSlice = (k: number, x: number, y: number): number => {
    // Shift of input slice k, in voxels: the point (x, y) of the output plane is (x - du, y - dv) in slice k.
    const fx = x - g.shifts[k].u / g.sx;
    const fy = y - g.shifts[k].v / g.sy;
    const x0 = Math.floor(fx);
    const y0 = Math.floor(fy);
    if (x0 < 0 || y0 < 0 || x0 >= nx || y0 >= ny) return background;
    const x1 = Math.min(x0 + 1, nx - 1);
    const y1 = Math.min(y0 + 1, ny - 1);
    const ax = fx - x0;
    const ay = fy - y0;
    const b = k * sliceSize;
    const v00 = src[b + y0 * nx + x0];
    const v10 = src[b + y0 * nx + x1];
    const v01 = src[b + y1 * nx + x0];
    const v11 = src[b + y1 * nx + x1];
    return (v00 * (1 - ax) + v10 * ax) * (1 - ay) + (v01 * (1 - ax) + v11 * ax) * ay;
  };
  let lower = 0;
  for (let k = 0; k < nz; k++) {
    const z = k * g.spacingZ;
    while (lower + 1 < nzIn - 1 && g.along[lower + 1] <= z) lower++;
    const upper = Math.min(lower + 1, nzIn - 1);
    const span = g.along[upper] - g.along[lower];
    const t = span > 0 ? Math.min(1, Math.max(0, (z - g.along[lower]) / span)) : 0;
    const base = k * sliceSize;
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        let v = sampleSlice(lower, x, y);
        if (t > 0) v = v * (1 - t) + sampleSlice(upper, x, y) * t;
        out[base + y * nx + x] = integer ? Math.round(v) : v;
      }
    }
  }
  return out;
}

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { VolumeError } from './errors.ts';
import { assertSupportedTransferSyntax, readPixelFormat } from './pixelData.ts';
import type { PixelFormat } from './pixelData.ts';
import type { Vec3 } from './volume.ts';

/**
 * The first pass of the series reader (dicomSeries.ts): each file's header, once, without its pixels. Files that
 * are no slice (DICOMDIR, reports, secondary captures, localizers) are left out with a warning, and refused with
 * the most telling reason when nothing else is left.
 */

const SECONDARY_CAPTURE_CLASSES = new Set([
  '1.2.840.10008.5.1.4.1.1.7',
  '1.2.840.10008.5.1.4.1.1.7.1',
  '1.2.840.10008.5.1.4.1.1.7.2',
  '1.2.840.10008.5.1.4.1.1.7.3',
  '1.2.840.10008.5.1.4.1.1.7.4',
]);

/** One 2D image of the series: a single-frame file, or one frame of a multi-frame file. */
export interface SliceInfo {
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

export interface FileInfo {
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

export function parse(buf: Buffer, name: string): DataSet {
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

export function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted)
    throw signal.reason instanceof Error ? signal.reason : new Error('Reading the series was cancelled.');
}

/** The series' identity as its first image gives it. */
export type SeriesIdentity = {
  modality: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  seriesDescription: string;
  frameOfReferenceUid: string;
};

export async function scanSeriesFiles(
  files: string[],
  warnings: string[],
  signal: AbortSignal | undefined,
): Promise<{ infos: FileInfo[]; slices: SliceInfo[]; meta: SeriesIdentity }> {
  const infos: FileInfo[] = [];
  const slices: SliceInfo[] = [];
  let meta: SeriesIdentity | null = null;
  const excluded = { localizer: 0, secondary: 0, noPixels: 0 };
  const exclusions: Partial<Record<'localizer' | 'secondary' | 'noPixels', VolumeError>> = {};
  for (const path of files) {
    checkAbort(signal);
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
  return { infos, slices, meta };
}

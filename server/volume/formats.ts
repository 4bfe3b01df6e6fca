import { open } from 'node:fs/promises';
import { gunzipHead, isDicomPart10, isGzip, SNIFF_BYTES } from '../dicom/sniff.ts';
import { parseNiftiHeader, readNifti } from './nifti.ts';
import { readNrrd } from './nrrd.ts';
import type { Volume } from './volume.ts';

/**
 * The input formats, each declared once: how its first bytes look (never its name first: browsers and PACS
 * exports name files anything), its file name endings, why a file of it may still be refused, and its reader.
 * Uploads (ingest/ingestFile.ts) recognise files with it and the process task reads volume files with it. DICOM
 * instances are stored one by one and read as a series (dicomSeries.ts), so DICOM has no `read` here.
 *
 * To add a format: declare it below with a reader in this room; uploads and jobs then take it.
 */
export interface InputFormat {
  name: 'dicom' | 'nifti' | 'nrrd';
  /** Lower-case file name endings, the storage key's ending first. */
  extensions: readonly string[];
  /** Whether the file's first bytes are this format; `inflated` is the start of a gzip file's content. */
  matches(head: Buffer, inflated: Buffer | undefined): boolean;
  /** Why a file of this format cannot be taken as it is (with what to do instead), or undefined. */
  refusal?(head: Buffer, inflated: Buffer | undefined): string | undefined;
  /** The ending of a volume file's storage key. */
  storedExtension?(head: Buffer): '.nii' | '.nii.gz' | '.nrrd';
  /** Reads a volume file into an LPS volume. */
  read?(path: string): Promise<Volume>;
}

export interface FileHead {
  head: Buffer;
  /** The first bytes of the content when the file is gzip. */
  inflated: Buffer | undefined;
  size: number;
}

/** Enough of a NIfTI-2 header (540 bytes) for the check, zero-padded if the data was shorter. */
function niftiHeaderOf(bytes: Buffer | undefined): ReturnType<typeof parseNiftiHeader> {
  if (!bytes || bytes.length < 348) return null;
  return parseNiftiHeader(bytes);
}

const DICOM: InputFormat = {
  name: 'dicom',
  extensions: ['.dcm', '.dicom'],
  matches: (head) => isDicomPart10(head),
};

const NIFTI: InputFormat = {
  name: 'nifti',
  extensions: ['.nii.gz', '.nii'],
  matches: (head, inflated) => niftiHeaderOf(isGzip(head) ? inflated : head) !== null,
  refusal(head) {
    // A single-file NIfTI-1 says "n+1"; "ni1" is the header of a .hdr/.img pair, whose image is another file.
    if (!isGzip(head) && niftiHeaderOf(head)?.version === 1 && head.toString('latin1', 344, 347) === 'ni1')
      return 'NIfTI header/image pair (.hdr/.img); save the volume as a single .nii or .nii.gz file';
    return undefined;
  },
  storedExtension: (head) => (isGzip(head) ? '.nii.gz' : '.nii'),
  read: readNifti,
};

const NRRD: InputFormat = {
  name: 'nrrd',
  extensions: ['.nrrd', '.nhdr'],
  matches: (head) => head.toString('latin1', 0, 7) === 'NRRD000',
  refusal(head) {
    const text = head.toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    const header = end >= 0 ? text.slice(0, end) : text;
    if (/^data ?file\s*:/im.test(header))
      return 'detached-header NRRD (it names a separate data file); save it as a single .nrrd file';
    return undefined;
  },
  storedExtension: () => '.nrrd',
  read: readNrrd,
};

export const INPUT_FORMATS: readonly InputFormat[] = [DICOM, NIFTI, NRRD];

/** The format the first bytes show, if any. */
export function formatOf(file: FileHead): InputFormat | undefined {
  return INPUT_FORMATS.find((f) => f.matches(file.head, file.inflated));
}

/** The format a file name's ending names, if any. */
export function formatByName(name: string): InputFormat | undefined {
  const lower = name.toLowerCase();
  return INPUT_FORMATS.find((f) => f.extensions.some((e) => lower.endsWith(e)));
}

/** A file name without the ending of its format ("scan.nii.gz" -> "scan"). */
export function stripFormatExtension(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? name;
  const ending = formatByName(base)?.extensions.find((e) => base.toLowerCase().endsWith(e));
  return ending ? base.slice(0, -ending.length) : base.replace(/\.gz$/i, '');
}

/** The first SNIFF_BYTES of a file, and of its content when it is gzip. */
export async function readFileHead(path: string): Promise<FileHead> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(SNIFF_BYTES, size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    return { head, inflated: isGzip(head) ? await gunzipHead(head) : undefined, size };
  } finally {
    await fh.close();
  }
}

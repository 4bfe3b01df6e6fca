import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { VolumeError } from './errors.ts';
import { parseNiftiHeader, readNifti } from './nifti.ts';
import { readNrrd } from './nrrd.ts';
import type { Volume } from './volume.ts';

export type VolumeFileFormat = 'nifti' | 'nrrd';

/**
 * Which volume format a file holds, by content first (users rename files; browsers drop extensions),
 * then by extension. Returns null for anything else, e.g. DICOM, which has its own series reader.
 */
export async function detectVolumeFormat(path: string): Promise<VolumeFileFormat | null> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head.toString('latin1', 0, 4) === 'NRRD') return 'nrrd';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    // Enough of the gzip stream to see a NIfTI header; a partial stream is expected here.
    try {
      const inner = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH */ });
      if (parseNiftiHeader(Buffer.concat([inner, Buffer.alloc(Math.max(0, 348 - inner.length))]))) return 'nifti';
    } catch {
      // fall through to the extension
    }
  } else if (parseNiftiHeader(head)) {
    return 'nifti';
  }
  const lower = path.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) return 'nifti';
  if (lower.endsWith('.nrrd') || lower.endsWith('.nhdr')) return 'nrrd';
  return null;
}

/** Reads a NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr) file into an LPS volume. */
export async function readVolumeFile(path: string): Promise<Volume> {
  const format = await detectVolumeFormat(path);
  if (format === 'nifti') return readNifti(path);
  if (format === 'nrrd') return readNrrd(path);
  throw new VolumeError(
    'not-a-volume-file',
    'The file is neither NIfTI (.nii, .nii.gz) nor NRRD (.nrrd); DICOM files go through the series reader.',
  );
}

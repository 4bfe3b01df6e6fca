import { VolumeError } from './errors.ts';
import { formatByName, formatOf, readFileHead, type InputFormat } from './formats.ts';
import type { Volume } from './volume.ts';

/**
 * The volume format of a file (formats.ts): by content first (users rename files; browsers drop extensions), then
 * by name. Undefined for anything that is not a volume file, e.g. DICOM, which has its own series reader.
 */
export async function volumeFormatOf(path: string): Promise<InputFormat | undefined> {
  const format = formatOf(await readFileHead(path)) ?? formatByName(path);
  return format?.read ? format : undefined;
}

/** Reads a NIfTI (.nii, .nii.gz) or NRRD (.nrrd, .nhdr) file into an LPS volume. */
export async function readVolumeFile(path: string): Promise<Volume> {
  const format = await volumeFormatOf(path);
  if (format?.read) return format.read(path);
  throw new VolumeError(
    'not-a-volume-file',
    'The file is neither NIfTI (.nii, .nii.gz) nor NRRD (.nrrd); DICOM files go through the series reader.',
  );
}

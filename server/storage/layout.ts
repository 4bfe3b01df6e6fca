import { isUsableUid } from '../dicom/uid.ts';

/**
 * Where things live in the store, as '/'-separated keys relative to its root (DATA_DIR for the local store).
 * An instance's key is also its `path` in the DICOM index. Only these functions make keys.
 */

/** `dicom/<study>/<series>/<sop>.dcm`; only validated UIDs reach here. */
export function instanceKey(studyUid: string, seriesUid: string, sopUid: string): string {
  for (const uid of [studyUid, seriesUid, sopUid]) {
    if (!isUsableUid(uid)) throw new Error('refusing to build a storage key from an invalid UID');
  }
  return ['dicom', studyUid, seriesUid, `${sopUid}.dcm`].join('/');
}

/** An uploaded NIfTI or NRRD file, named by a generated id (never by the client). */
export function volumeKey(id: string, extension: '.nii' | '.nii.gz' | '.nrrd'): string {
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error('refusing to build a storage key from an invalid volume id');
  return `volumes/${id}${extension}`;
}

/** A file of a processing result. Names come from the result's own file list. */
export function resultKey(resultId: string, name: string): string {
  if (!/^[0-9a-f-]{36}$/.test(resultId)) throw new Error('refusing to build a storage key from an invalid result id');
  if (name === '' || name.startsWith('.') || /[\\/\0]/.test(name)) throw new Error('refusing a result file name');
  return `results/${resultId}/${name}`;
}

/** Keys are relative, '/'-separated and never climb out of the store. */
export function isSafeKey(key: string): boolean {
  if (key === '' || key.startsWith('/') || key.includes('\\') || key.includes('\0')) return false;
  return !key.split('/').some((part) => part === '' || part === '.' || part === '..');
}

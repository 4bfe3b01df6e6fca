import type { Config } from '../config/config.ts';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import type { InstanceHeader } from '../dicom/readHeader.ts';
import { isVolumeImageSopClass, MEDIA_STORAGE_DIRECTORY } from '../dicom/sopClasses.ts';
import { SUPPORTED_TRANSFER_SYNTAXES, transferSyntaxLabel } from '../dicom/transferSyntaxes.ts';
import type { Storage } from '../storage/storage.ts';

/** What an instance must pass before it is stored; each refusal carries the DICOM failure reason for the sender. */

export function rejectBeforeStore(header: InstanceHeader, expectedStudyInstanceUid: string | undefined): void {
  const uids = { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid };
  if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
    throw new InstanceRejectedError(
      FailureReason.SopClassNotSupported,
      'DICOMDIR (Media Storage Directory) is an index of a file set, not an instance; send the files it lists',
      uids,
    );
  }
  if (expectedStudyInstanceUid !== undefined && header.studyInstanceUid !== expectedStudyInstanceUid) {
    throw new InstanceRejectedError(
      FailureReason.StudyInstanceUidMismatch,
      `Study Instance UID ${header.studyInstanceUid} does not match the study in the request URL (${expectedStudyInstanceUid})`,
      uids,
    );
  }
  if (
    isVolumeImageSopClass(header.sopClassUid) &&
    header.hasPixelData &&
    !SUPPORTED_TRANSFER_SYNTAXES.has(header.transferSyntaxUid)
  ) {
    throw new InstanceRejectedError(
      FailureReason.TransferSyntaxNotSupported,
      `transfer syntax ${transferSyntaxLabel(header.transferSyntaxUid)} is not supported for images; send it uncompressed, JPEG, JPEG-LS, JPEG 2000 or RLE`,
      uids,
    );
  }
}

/**
 * Refuses new input when the store has less than MIN_FREE_DISK_MB free, so a full disk turns into a clear "out of
 * resources" for the sender (STOW 507, C-STORE A700) instead of a half-written file.
 */
export async function checkFreeDisk(
  deps: { config: Pick<Config, 'minFreeDiskMb'>; storage: Pick<Storage, 'freeSpaceMb'> },
  incomingBytes = 0,
): Promise<void> {
  const { minFreeDiskMb } = deps.config;
  if (minFreeDiskMb <= 0) return;
  const free = await deps.storage.freeSpaceMb();
  if (free - incomingBytes / (1024 * 1024) < minFreeDiskMb) {
    throw new InstanceRejectedError(
      FailureReason.OutOfResources,
      `out of disk space: ${free} MB free on the data volume, at least ${minFreeDiskMb} MB must stay free (MIN_FREE_DISK_MB)`,
    );
  }
}

import { mkdir, statfs } from 'node:fs/promises';
import type { Config } from '../config.ts';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';

export async function freeDiskMb(dataDir: string): Promise<number> {
  await mkdir(dataDir, { recursive: true });
  const s = await statfs(dataDir);
  return Math.floor((s.bavail * s.bsize) / (1024 * 1024));
}

/**
 * Refuses new input when DATA_DIR's file system has less than MIN_FREE_DISK_MB free, so a full disk
 * turns into a clear "out of resources" for the sender (STOW 507, C-STORE A700) instead of a half-written file.
 */
export async function checkFreeDisk(
  deps: { config: Pick<Config, 'dataDir' | 'minFreeDiskMb'> },
  incomingBytes = 0,
): Promise<void> {
  const { minFreeDiskMb, dataDir } = deps.config;
  if (minFreeDiskMb <= 0) return;
  const free = await freeDiskMb(dataDir);
  if (free - incomingBytes / (1024 * 1024) < minFreeDiskMb) {
    throw new InstanceRejectedError(
      FailureReason.OutOfResources,
      `out of disk space: ${free} MB free on the data volume, at least ${minFreeDiskMb} MB must stay free (MIN_FREE_DISK_MB)`,
    );
  }
}

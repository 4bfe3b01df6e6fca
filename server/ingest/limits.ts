/** Request limits of the ways in, in one place (a request beyond them gets a specific 4xx, not a crash). */
export const INGEST_LIMITS = {
  /** Instances per STOW-RS request. */
  maxStowParts: 20_000,
  /** One DICOM instance (an enhanced multi-frame CT can be a few GB; MONAI's default is 2 GiB). */
  maxInstanceBytes: 4 * 1024 ** 3,
  /** One STOW-RS request or upload form. */
  maxRequestBytes: 64 * 1024 ** 3,
  /**
   * Instances being stored (fsync, rename, index) at once per request while the next parts are received. Each
   * holds a closed temp file and its parsed header, so 64 cost little memory and let 32 index rows share a commit
   * while the next 32 arrive (docs/performance.md).
   */
  storeConcurrency: 64,
  /** Files per upload form. */
  maxUploadFiles: 20_000,
  /** Zip archives: entries, total and per-entry expansion. */
  maxZipEntries: 50_000,
  maxZipTotalBytes: 64 * 1024 ** 3,
  maxZipEntryBytes: 4 * 1024 ** 3,
  /** Uncompressed/compressed size above which an entry is treated as a zip bomb (DICOM rarely exceeds 20). */
  maxZipExpansionRatio: 200,
} as const;

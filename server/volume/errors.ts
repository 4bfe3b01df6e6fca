/**
 * Why an input cannot become a volume. Messages are shown to users as they are, so they name the
 * problem and what to do, never a patient's name, ID or birth date. `status`/`expose` follow Koa's
 * convention so the HTTP layer can answer 422 with the message.
 */
export const VOLUME_ERROR_CODES = [
  'not-dicom',
  'no-pixel-data',
  'unsupported-transfer-syntax',
  'unsupported-pixel-format',
  'corrupt-pixel-data',
  'too-few-slices',
  'missing-slices',
  'mixed-orientation',
  'mixed-series',
  'inconsistent-images',
  'not-a-volume',
  'multiple-volumes',
  'missing-geometry',
  'localizer',
  'secondary-capture',
  'not-a-volume-file',
  'unsupported-volume-file',
  'corrupt-volume-file',
] as const;
export type VolumeErrorCode = (typeof VOLUME_ERROR_CODES)[number];

export class VolumeError extends Error {
  readonly code: VolumeErrorCode;
  readonly status = 422;
  readonly expose = true;
  /** Warnings gathered before the failure (e.g. duplicates dropped), for the job log. */
  readonly warnings: string[];

  constructor(code: VolumeErrorCode, message: string, opts: { cause?: unknown; warnings?: string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VolumeError';
    this.code = code;
    this.warnings = opts.warnings ?? [];
  }
}

/**
 * Why an instance was not stored, as a DICOM Failure Reason (PS3.18 Table I.2-2, the same numbers as
 * C-STORE statuses in PS3.4 Table B.2-1), so STOW-RS, the upload form and the DIMSE SCP all report the
 * same code and message for the same problem.
 */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  SopClassNotSupported: 0x0122,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  /** Study Instance UID differs from the one in the STOW-RS URL (same code as Azure and raccoon-dicom). */
  StudyInstanceUidMismatch: 0xa901,
  CannotUnderstand: 0xc000,
  TransferSyntaxNotSupported: 0xc122,
} as const;
export type FailureReasonCode = (typeof FailureReason)[keyof typeof FailureReason];

/** HTTP status that best describes a request where every instance failed for this reason. */
export function httpStatusForFailure(reason: FailureReasonCode): number {
  switch (reason) {
    case FailureReason.OutOfResources:
      return 507;
    case FailureReason.ProcessingFailure:
      return 500;
    case FailureReason.StudyInstanceUidMismatch:
    case FailureReason.SopClassNotSupported:
    case FailureReason.TransferSyntaxNotSupported:
      return 409;
    default:
      return 400;
  }
}

/**
 * An instance was refused. `message` is safe to show to the sender (no patient data, only UIDs and
 * structural facts); `reason` is the DICOM failure code.
 */
export class InstanceRejectedError extends Error {
  readonly reason: FailureReasonCode;
  readonly status: number;
  readonly expose = true;
  /** UIDs known at the point of failure, for STOW's FailedSOPSequence. */
  readonly sopClassUid: string | undefined;
  readonly sopInstanceUid: string | undefined;
  constructor(
    reason: FailureReasonCode,
    message: string,
    uids: { sopClassUid?: string; sopInstanceUid?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InstanceRejectedError';
    this.reason = reason;
    this.status = httpStatusForFailure(reason);
    this.sopClassUid = uids.sopClassUid;
    this.sopInstanceUid = uids.sopInstanceUid;
  }
}

export function isInstanceRejectedError(e: unknown): e is InstanceRejectedError {
  return e instanceof InstanceRejectedError;
}

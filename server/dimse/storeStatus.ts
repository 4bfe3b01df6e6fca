import { FailureReason, isInstanceRejectedError } from '../dicom/failure.ts';

/**
 * C-STORE response status and Error Comment for an outcome (PS3.4 Table B.2-1 and PS3.7 Annex C).
 * The comment is what the sending PACS shows its operator, so it says what was wrong; it never
 * carries patient data (the messages of InstanceRejectedError are written to be safe to show).
 */
export const StoreStatus = {
  Success: 0x0000,
  ProcessingFailure: FailureReason.ProcessingFailure,
  OutOfResources: FailureReason.OutOfResources,
  CannotUnderstand: FailureReason.CannotUnderstand,
} as const;

export interface StoreOutcome {
  status: number;
  /** Error Comment (0000,0902), at most 64 characters (LO). */
  comment?: string;
}

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

export function errorComment(text: string): string {
  const flat = text.replace(/[\\\r\n\t]+/g, ' ').trim();
  return flat.length <= 64 ? flat : `${flat.slice(0, 61)}...`;
}

export function outcomeForError(error: unknown): StoreOutcome {
  if (isInstanceRejectedError(error)) {
    return { status: error.reason, comment: errorComment(error.message) };
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && DISK_FULL_CODES.has(code)) {
    return { status: StoreStatus.OutOfResources, comment: 'Out of resources: the gateway disk is full' };
  }
  return { status: StoreStatus.ProcessingFailure, comment: 'Processing failure: the instance could not be stored' };
}

export function lowDiskOutcome(freeMb: number, minFreeMb: number): StoreOutcome {
  return {
    status: StoreStatus.OutOfResources,
    comment: errorComment(`Out of resources: ${Math.floor(freeMb)} MB free, MIN_FREE_DISK_MB is ${minFreeMb}`),
  };
}

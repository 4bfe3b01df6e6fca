import { SUPPORTED_TRANSFER_SYNTAXES } from '../dicom/transferSyntaxes.ts';

/**
 * Transfer syntaxes the DIMSE SCP accepts: exactly those the volume readers decode (one list,
 * shared with STOW-RS and uploads). Instances are stored as sent, without transcoding, so accepting
 * anything else would store files that fail later, far from the sender; a context proposing none of
 * them is refused with "transfer syntaxes not supported" and the sending PACS reports it per file.
 */
export const ACCEPTED_TRANSFER_SYNTAXES: ReadonlySet<string> = SUPPORTED_TRANSFER_SYNTAXES;

/** Verification has no data set, so only the plain syntaxes make sense for it. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2.2',
]);

/**
 * The first proposed syntax we accept. Proposal order is the sender's preference, and a sender that
 * proposes its files' own compressed syntax gets them stored as sent, without a decompression on
 * its side and with no change to the pixel data.
 */
export function chooseTransferSyntax(proposed: readonly string[]): string | undefined {
  return proposed.find((uid) => ACCEPTED_TRANSFER_SYNTAXES.has(uid));
}

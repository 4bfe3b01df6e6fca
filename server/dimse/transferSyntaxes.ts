import { SUPPORTED_TRANSFER_SYNTAXES } from '../dicom/transferSyntaxes.ts';

/**
 * Transfer syntaxes the DIMSE SCP accepts: exactly those the volume readers decode (one list,
 * shared with STOW-RS and uploads). Instances are stored as sent, without transcoding, so accepting
 * anything else would store files that fail later, far from the sender; a context proposing none of
 * them is refused with "transfer syntaxes not supported" and the sending PACS reports it per file.
 */
export const ACCEPTED_TRANSFER_SYNTAXES: ReadonlySet<string> = SUPPORTED_TRANSFER_SYNTAXES;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Verification has no data set, so only the plain syntaxes make sense for it. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
]);

/** Compressed syntaxes that keep every pixel value (PS3.5 8.2, A.4). */
export const LOSSLESS_COMPRESSED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  '1.2.840.10008.1.2.1.99', // Deflated Explicit VR Little Endian
  '1.2.840.10008.1.2.5', // RLE Lossless
  '1.2.840.10008.1.2.4.57', // JPEG Lossless, Process 14
  '1.2.840.10008.1.2.4.70', // JPEG Lossless, Process 14 SV1
  '1.2.840.10008.1.2.4.80', // JPEG-LS Lossless
  '1.2.840.10008.1.2.4.90', // JPEG 2000 (Lossless Only)
]);

/**
 * How much we want a syntax: Explicit VR Little Endian, then Implicit VR Little Endian, then the
 * retired Explicit VR Big Endian, then lossless compression; any other syntax we decode (JPEG
 * Baseline and Extended, JPEG-LS near-lossless, JPEG 2000 that may be irreversible) may lose pixel
 * values and comes last. Lower is better.
 */
function rank(uid: string): number {
  if (uid === EXPLICIT_VR_LITTLE_ENDIAN) return 0;
  if (uid === IMPLICIT_VR_LITTLE_ENDIAN) return 1;
  if (uid === EXPLICIT_VR_BIG_ENDIAN) return 2;
  if (LOSSLESS_COMPRESSED_TRANSFER_SYNTAXES.has(uid)) return 3;
  return 4;
}

export function isLossyCapable(uid: string): boolean {
  return rank(uid) === 4;
}

/**
 * The syntax to accept from one presentation context: the most wanted one we decode, whatever the
 * order of the proposal, as DCMTK's storescp and Orthanc choose by their own list rather than the
 * sender's. A sender offering JPEG Baseline next to Explicit VR Little Endian (storescu +C -xy)
 * therefore sends the images unchanged; a lossy syntax is taken only when the context offers nothing
 * lossless, so that a sender holding only lossy images can still send them as they are. Among
 * compressed syntaxes of the same kind the sender's order decides.
 */
export function chooseTransferSyntax(proposed: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const uid of proposed) {
    if (!ACCEPTED_TRANSFER_SYNTAXES.has(uid)) continue;
    if (best === undefined || rank(uid) < rank(best)) best = uid;
  }
  return best;
}

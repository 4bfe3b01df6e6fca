/**
 * Transfer syntaxes whose pixel data the volume readers decode (server/volume/pixelData.ts has a decoder for each),
 * by UID with their names. Instances of image SOP classes in any other syntax are refused at ingest with 0xC122
 * instead of failing later in a job.
 */
export const DECODABLE_TRANSFER_SYNTAXES: Readonly<Record<string, string>> = Object.freeze({
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
});

/** Names of syntaxes we recognise but cannot decode, so the error can say what was sent. */
const KNOWN_UNSUPPORTED: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (HTJ2K) Lossless',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (HTJ2K) Lossless',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 (HTJ2K)',
  '1.2.840.10008.1.2.8.1': 'Deflated Image Frame Compression',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component (Lossless Only)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
};

export function transferSyntaxName(uid: string): string {
  return DECODABLE_TRANSFER_SYNTAXES[uid] ?? KNOWN_UNSUPPORTED[uid] ?? 'an unknown transfer syntax';
}

/** The same, as a set. */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(Object.keys(DECODABLE_TRANSFER_SYNTAXES));

export function transferSyntaxLabel(uid: string): string {
  return `${uid} (${transferSyntaxName(uid)})`;
}

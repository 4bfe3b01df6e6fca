import { gunzipSync, createGunzip } from 'node:zlib';

/**
 * What the first bytes of a file say about DICOM (server/volume/formats.ts recognises every input format).
 * Bytes to read to recognise a file (covers preamble + DICM and a NIfTI-2 header).
 */
export const SNIFF_BYTES = 4096;

export function isDicomPart10(head: Buffer): boolean {
  return head.length >= 132 && head.toString('latin1', 128, 132) === 'DICM';
}

/** gzip's magic and its only compression method, deflate. */
export function isGzip(h: Buffer): boolean {
  return h.length >= 3 && h[0] === 0x1f && h[1] === 0x8b && h[2] === 0x08;
}

/** First bytes of a gzip stream's content, without inflating the rest. */
export async function gunzipHead(file: Buffer | NodeJS.ReadableStream, bytes = 600): Promise<Buffer> {
  if (Buffer.isBuffer(file)) {
    try {
      return gunzipSync(file, { finishFlush: 2 /* Z_SYNC_FLUSH: tolerate a cut-off stream */ }).subarray(0, bytes);
    } catch {
      return Buffer.alloc(0);
    }
  }
  return await new Promise<Buffer>((resolve) => {
    const gunzip = createGunzip();
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (): void => {
      file.unpipe?.(gunzip);
      gunzip.destroy();
      resolve(Buffer.concat(chunks).subarray(0, bytes));
    };
    gunzip.on('data', (c: Buffer) => {
      chunks.push(c);
      total += c.length;
      if (total >= bytes) finish();
    });
    gunzip.on('end', finish);
    gunzip.on('error', finish);
    file.pipe(gunzip);
  });
}

/** A specific sentence for a file that is not a DICOM Part 10 file. */
export function describeNonDicom(head: Buffer, size: number, gunzipped?: Buffer): string {
  if (size === 0) return 'empty file';
  if (isGzip(head)) {
    if (gunzipped && isDicomPart10(gunzipped)) return 'gzip-compressed DICOM file: decompress it before sending';
    return 'gzip-compressed file that is not a NIfTI volume or DICOM file';
  }
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'PNG image, not DICOM';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG image, not DICOM';
  if (head.length >= 4 && head.toString('latin1', 0, 4) === '%PDF') return 'PDF document, not DICOM';
  if (head.length >= 4 && head.readUInt32LE(0) === 0x04034b50)
    return 'zip archive inside an instance part (send the files it contains)';
  if (looksLikeBareDataSet(head)) {
    return 'DICOM data set without the Part 10 preamble and file meta information (send Part 10 files with "DICM" at byte 128)';
  }
  if (/^[\t\n\r\x20-\x7e]*$/.test(head.toString('latin1', 0, Math.min(head.length, 512))))
    return 'text file, not DICOM';
  if (size < 132) return `not a DICOM file: only ${size} bytes, too short for the 128-byte preamble and "DICM" prefix`;
  return 'not a DICOM Part 10 file: no "DICM" prefix at byte 128';
}

const VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

/** A data set written without preamble/meta starts with a group 0008 (or 0002) tag, in either byte order. */
function looksLikeBareDataSet(head: Buffer): boolean {
  if (head.length < 8) return false;
  const groupLe = head.readUInt16LE(0);
  const groupBe = head.readUInt16BE(0);
  if ((groupLe === 0x0008 || groupLe === 0x0002) && head.readUInt16LE(2) <= 0x0020) return true;
  if ((groupBe === 0x0008 || groupBe === 0x0002) && head.readUInt16BE(2) <= 0x0020) return true;
  // Some writers pad or misalign the first tag; an explicit VR code near the start gives it away.
  return (
    [4, 5].some((i) => VRS.has(head.toString('latin1', i, i + 2))) && head.toString('latin1', 0, 64).includes('ISO_IR')
  );
}

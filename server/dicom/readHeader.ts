import { open, type FileHandle } from 'node:fs/promises';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { FailureReason, InstanceRejectedError } from './failure.ts';
import { isUsableUid } from './uid.ts';
import { MEDIA_STORAGE_DIRECTORY } from './sopClasses.ts';
import { describeNonDicom, gunzipHead } from './sniff.ts';

/** What the index and the ways in need from one Part 10 file. Patient fields are for QIDO only: never log them. */
export interface InstanceHeader {
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  specificCharacterSet?: string;
  modality?: string;
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
  studyId?: string;
  studyDescription?: string;
  timezoneOffsetFromUtc?: string;
  seriesNumber?: number;
  seriesDescription?: string;
  seriesDate?: string;
  seriesTime?: string;
  bodyPartExamined?: string;
  manufacturer?: string;
  manufacturerModelName?: string;
  performedProcedureStepStartDate?: string;
  instanceNumber?: number;
  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  numberOfFrames?: number;
  imageType: string[];
  hasPixelData: boolean;
}

const DEFLATED = '1.2.840.10008.1.2.1.99';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';

function reject(message: string, uids: { sopClassUid?: string; sopInstanceUid?: string } = {}, cause?: unknown): never {
  throw new InstanceRejectedError(
    FailureReason.CannotUnderstand,
    message,
    uids,
    cause === undefined ? undefined : { cause },
  );
}

/** dicom-parser throws strings or `{ exception, dataSet }` objects; turn either into a short sentence. */
function parserMessage(e: unknown): string {
  if (typeof e === 'string') return e.replace(/^dicomParser[.:]\w*: ?/, '');
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'exception' in e) return parserMessage((e as { exception: unknown }).exception);
  return 'unknown parser error';
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * Reads and validates the header of a DICOM Part 10 file, reading only as far as the Pixel Data element
 * (more only when the header is larger than the first read). Throws InstanceRejectedError with a specific
 * message for anything that is not a complete, identifiable instance.
 */
export async function readInstanceHeader(file: string): Promise<InstanceHeader> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    return await readInstanceHeaderFrom({ size, read: (position, length) => readAt(fh, position, length) });
  } finally {
    await fh.close();
  }
}

/**
 * Bytes of one received instance. STOW-RS keeps the first HEADER_READ_BYTES of each part in memory as
 * they stream to disk, so its header is parsed without reading the file back.
 */
export interface InstanceBytes {
  size: number;
  read(position: number, length: number): Promise<Buffer>;
}

/** How much readInstanceHeaderFrom asks for first; a header that fits needs no further read. */
export const HEADER_READ_BYTES = 128 * 1024;

/** readInstanceHeader on bytes that need not be a file yet (same checks, same messages). */
export async function readInstanceHeaderFrom(src: InstanceBytes): Promise<InstanceHeader> {
  const size = src.size;
  let length = Math.min(size, HEADER_READ_BYTES);
  let head = await src.read(0, length);
  if (size < 132 || head.toString('latin1', 128, 132) !== 'DICM') {
    reject(describeNonDicom(head, size, await gunzipHead(head)));
  }
  let dataSet: DataSet | undefined;
  for (;;) {
    let failure: unknown;
    try {
      dataSet = dicomParser.parseDicom(head, { untilTag: 'x7fe00010' });
    } catch (e) {
      failure = e;
    }
    const ts = dataSet?.string('x00020010');
    const incomplete = failure !== undefined || (dataSet !== undefined && !dataSet.elements.x7fe00010);
    if (!incomplete && ts !== DEFLATED) break;
    if (length >= size) {
      if (failure === undefined) break; // whole file read: an instance without pixel data
      const msg = parserMessage(failure);
      if (/0002,0010/.test(msg)) reject('the file meta information has no Transfer Syntax UID (0002,0010)');
      if (/DICM prefix/.test(msg)) reject(describeNonDicom(head, size, await gunzipHead(head)));
      reject(`truncated or corrupt DICOM data set (${msg})`);
    }
    // Deflated data sets can only be inflated whole; otherwise grow the window until the header fits.
    length = ts === DEFLATED ? size : Math.min(size, length * 4);
    head = await src.read(0, length);
    dataSet = undefined;
  }
  if (!dataSet) reject('unreadable DICOM data set');
  if (dataSet.string('x00020002')?.trim() === MEDIA_STORAGE_DIRECTORY) {
    throw new InstanceRejectedError(
      FailureReason.SopClassNotSupported,
      'DICOMDIR (Media Storage Directory) is an index of a file set, not an instance; send the files it lists',
      {
        sopClassUid: MEDIA_STORAGE_DIRECTORY,
      },
    );
  }
  // An element whose length points past the data read makes dicom-parser throw a bare string when the
  // value is read; that is a corrupt file, not an internal error.
  try {
    const header = extractHeader(dataSet);
    await checkPixelDataComplete(src, dataSet, header, size);
    return header;
  } catch (e) {
    if (e instanceof InstanceRejectedError) throw e;
    reject(`corrupt DICOM data set (${parserMessage(e)})`, {}, e);
  }
}

function decoderFor(charset: string | undefined): TextDecoder {
  const terms = (charset ?? '').split('\\').map((s) => s.trim().toUpperCase());
  if (terms.includes('ISO_IR 192')) return new TextDecoder('utf-8');
  if (terms.includes('GB18030') || terms.includes('GBK')) return new TextDecoder('gb18030');
  if (terms.includes('ISO_IR 144')) return new TextDecoder('iso-8859-5');
  if (terms.includes('ISO_IR 127')) return new TextDecoder('iso-8859-6');
  if (terms.includes('ISO_IR 126')) return new TextDecoder('iso-8859-7');
  if (terms.includes('ISO_IR 138')) return new TextDecoder('iso-8859-8');
  if (terms.includes('ISO_IR 13')) return new TextDecoder('shift_jis');
  if (terms.includes('ISO_IR 166')) return new TextDecoder('windows-874');
  return new TextDecoder('latin1');
}

function extractHeader(ds: DataSet): InstanceHeader {
  const ascii = (tag: string): string | undefined => {
    const v = ds.string(tag);
    return v === undefined || v === '' ? undefined : v.replace(/\0+$/, '').trim() || undefined;
  };
  const specificCharacterSet = ascii('x00080005');
  const decoder = decoderFor(specificCharacterSet);
  // dicom-parser reads strings byte-per-char; person names and descriptions need the declared charset.
  const text = (tag: string): string | undefined => {
    const el = ds.elements[tag];
    if (!el || el.length <= 0) return undefined;
    const bytes = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
    const v = decoder
      .decode(bytes)
      .replace(/[\0 ]+$/, '')
      .trim();
    return v === '' ? undefined : v;
  };
  const int = (tag: string): number | undefined => {
    const v = ascii(tag);
    if (v === undefined) return undefined;
    const n = Number.parseInt(v.split('\\')[0], 10);
    return Number.isFinite(n) ? n : undefined;
  };
  const us = (tag: string): number | undefined =>
    ds.elements[tag] && ds.elements[tag].length >= 2 ? ds.uint16(tag) : undefined;

  const transferSyntaxUid =
    ascii('x00020010') ?? reject('the file meta information has no Transfer Syntax UID (0002,0010)');
  const sopClassUid = ascii('x00080016') ?? ascii('x00020002');
  const sopInstanceUid = ascii('x00080018') ?? ascii('x00020003');
  const uids = { sopClassUid, sopInstanceUid };
  const required = (value: string | undefined, name: string, tag: string): string => {
    if (value === undefined) reject(`${name} ${tag} is missing`, uids);
    if (!isUsableUid(value)) reject(`${name} ${tag} is not a valid UID (digits and dots, at most 64 characters)`, uids);
    return value;
  };
  if (!isUsableUid(transferSyntaxUid)) reject(`Transfer Syntax UID (0002,0010) is not a valid UID`, uids);
  return {
    transferSyntaxUid,
    sopClassUid: required(sopClassUid, 'SOP Class UID', '(0008,0016)'),
    sopInstanceUid: required(sopInstanceUid, 'SOP Instance UID', '(0008,0018)'),
    studyInstanceUid: required(ascii('x0020000d'), 'Study Instance UID', '(0020,000D)'),
    seriesInstanceUid: required(ascii('x0020000e'), 'Series Instance UID', '(0020,000E)'),
    specificCharacterSet,
    modality: ascii('x00080060'),
    patientName: text('x00100010'),
    patientId: text('x00100020'),
    patientBirthDate: ascii('x00100030'),
    patientSex: ascii('x00100040'),
    studyDate: ascii('x00080020'),
    studyTime: ascii('x00080030'),
    accessionNumber: text('x00080050'),
    referringPhysicianName: text('x00080090'),
    studyId: text('x00200010'),
    studyDescription: text('x00081030'),
    timezoneOffsetFromUtc: ascii('x00080201'),
    seriesNumber: int('x00200011'),
    seriesDescription: text('x0008103e'),
    seriesDate: ascii('x00080021'),
    seriesTime: ascii('x00080031'),
    bodyPartExamined: ascii('x00180015'),
    manufacturer: text('x00080070'),
    manufacturerModelName: text('x00081090'),
    performedProcedureStepStartDate: ascii('x00400244'),
    instanceNumber: int('x00200013'),
    rows: us('x00280010'),
    columns: us('x00280011'),
    bitsAllocated: us('x00280100'),
    numberOfFrames: int('x00280008'),
    imageType: (ascii('x00080008') ?? '')
      .split('\\')
      .map((s) => s.trim().toUpperCase())
      .filter((s) => s !== ''),
    hasPixelData: ds.elements.x7fe00010 !== undefined,
  };
}

const SEQUENCE_DELIMITER = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]);

/**
 * A file cut short in its pixel data still has a perfectly readable header; catching it here gives the
 * sender a failure now instead of a broken volume minutes later.
 */
async function checkPixelDataComplete(
  src: InstanceBytes,
  ds: DataSet,
  header: InstanceHeader,
  size: number,
): Promise<void> {
  const el = ds.elements.x7fe00010;
  if (!el) return;
  const uids = { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid };
  if (header.transferSyntaxUid === DEFLATED) return; // inflated whole above: the parser saw every byte
  const undefinedLength = el.hadUndefinedLength === true || el.length === 0xffffffff || el.length < 0;
  if (!undefinedLength) {
    if (el.dataOffset + el.length > size) {
      reject(
        `truncated file: Pixel Data (7FE0,0010) declares ${el.length} bytes but the file ends ${size - el.dataOffset} bytes into it`,
        uids,
      );
    }
    const samples = ds.uint16('x00280002') ?? 1;
    const { rows, columns, bitsAllocated } = header;
    if (rows && columns && bitsAllocated) {
      const frames = header.numberOfFrames && header.numberOfFrames > 0 ? header.numberOfFrames : 1;
      const expected = Math.ceil((rows * columns * frames * samples * bitsAllocated) / 8);
      if (el.length < expected) {
        reject(
          `Pixel Data (7FE0,0010) holds ${el.length} bytes but ${rows}x${columns}x${frames} pixels of ${bitsAllocated} bits need ${expected}`,
          uids,
        );
      }
    }
    return;
  }
  // Encapsulated: a complete file ends with the Sequence Delimitation Item (unless trailing padding follows).
  const tail = await src.read(Math.max(0, size - 8), Math.min(8, size));
  if (tail.equals(SEQUENCE_DELIMITER) && header.transferSyntaxUid !== BIG_ENDIAN) return;
  const whole = await src.read(0, size);
  try {
    const full = dicomParser.parseDicom(whole);
    const px = full.elements.x7fe00010;
    if (!px || !px.fragments || px.fragments.length === 0)
      reject('encapsulated Pixel Data (7FE0,0010) has no fragments', uids);
  } catch (e) {
    if (e instanceof InstanceRejectedError) throw e;
    reject(`truncated file: encapsulated Pixel Data (7FE0,0010) is incomplete (${parserMessage(e)})`, uids, e);
  }
}

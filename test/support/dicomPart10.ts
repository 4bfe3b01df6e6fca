import { deflateRawSync } from 'node:zlib';

/**
 * A minimal DICOM Part-10 writer for generated test data (synthetic CT series for tests, STOW/C-STORE
 * fixtures and benchmarks). Written by hand instead of with dcmjs because it must produce 300 slices of
 * 512x512 in well under a second, write each element exactly as given (VR, byte order) and encode the
 * transfer syntaxes our reader must handle (implicit/explicit LE, explicit BE, deflated, RLE) — dcmjs
 * writes only explicit little endian and goes through a naturalized copy of every value.
 */

export const TS = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflatedExplicitLittle: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
  rle: '1.2.840.10008.1.2.5',
} as const;
export type WritableTransferSyntax = (typeof TS)[keyof typeof TS];

export type ElementValue = string | number | number[] | Uint8Array | Int16Array | Uint16Array;

/** One element: tag as 8 hex digits ('00280010'), its VR, and its value (strings are joined with '\\'). */
export interface Element {
  tag: string;
  vr: string;
  value: ElementValue | string[];
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'OV']);

function padString(s: string, vr: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  return Buffer.concat([bytes, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

/** Buffer writers for numeric VRs: [big endian, little endian]. */
const NUMBER_WRITERS = {
  US: ['writeUInt16BE', 'writeUInt16LE'],
  SS: ['writeInt16BE', 'writeInt16LE'],
  UL: ['writeUInt32BE', 'writeUInt32LE'],
  SL: ['writeInt32BE', 'writeInt32LE'],
  FL: ['writeFloatBE', 'writeFloatLE'],
  FD: ['writeDoubleBE', 'writeDoubleLE'],
} as const;

function writeTag(head: Buffer, group: number, element: number, bigEndian: boolean): void {
  if (bigEndian) {
    head.writeUInt16BE(group, 0);
    head.writeUInt16BE(element, 2);
  } else {
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
  }
}

function valueBytes(el: Element, bigEndian: boolean): Buffer {
  const { vr, value } = el;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Int16Array || value instanceof Uint16Array) {
    const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (!bigEndian) return b;
    const copy = Buffer.from(b);
    copy.swap16();
    return copy;
  }
  const numbers =
    typeof value === 'number'
      ? [value]
      : Array.isArray(value) && typeof value[0] === 'number'
        ? (value as number[])
        : null;
  if (numbers && (vr === 'US' || vr === 'SS' || vr === 'UL' || vr === 'SL' || vr === 'FL' || vr === 'FD')) {
    const size = vr === 'US' || vr === 'SS' ? 2 : vr === 'FD' ? 8 : 4;
    const b = Buffer.alloc(size * numbers.length);
    const write = NUMBER_WRITERS[vr][bigEndian ? 0 : 1];
    numbers.forEach((n, i) => b[write](n, i * size));
    return b;
  }
  const text = Array.isArray(value)
    ? value.map((v) => (typeof v === 'number' ? formatDecimal(v) : String(v))).join('\\')
    : typeof value === 'number'
      ? formatDecimal(value)
      : String(value);
  return padString(text, vr);
}

/** DS values are limited to 16 characters. */
export function formatDecimal(n: number): string {
  if (Number.isInteger(n)) return String(n);
  let s = String(n);
  for (let digits = 10; s.length > 16 && digits > 0; digits--) s = String(Number(n.toPrecision(digits)));
  return s;
}

function tagParts(tag: string): [number, number] {
  return [parseInt(tag.slice(0, 4), 16), parseInt(tag.slice(4, 8), 16)];
}

export function encodeElement(
  el: Element,
  opts: { explicit: boolean; bigEndian: boolean },
  valueOverride?: Buffer,
  undefinedLength = false,
): Buffer {
  const [group, element] = tagParts(el.tag);
  const value = valueOverride ?? valueBytes(el, opts.bigEndian);
  const len = undefinedLength ? 0xffffffff : value.length;
  let head: Buffer;
  const be = opts.bigEndian && group !== 0x0002;
  if (!opts.explicit) {
    head = Buffer.alloc(8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
    head.writeUInt32LE(len, 4);
  } else if (LONG_VRS.has(el.vr)) {
    head = Buffer.alloc(12);
    writeTag(head, group, element, be);
    head.write(el.vr, 4, 'latin1');
    if (be) head.writeUInt32BE(len, 8);
    else head.writeUInt32LE(len, 8);
  } else {
    head = Buffer.alloc(8);
    writeTag(head, group, element, be);
    head.write(el.vr, 4, 'latin1');
    if (be) head.writeUInt16BE(value.length, 6);
    else head.writeUInt16LE(value.length, 6);
  }
  return Buffer.concat([head, value]);
}

/** PackBits of one byte plane (DICOM PS3.5 G.3.1): literal runs and replicate runs of at most 128 bytes. */
function packBits(src: Uint8Array): Buffer {
  const out = Buffer.alloc(src.length + Math.ceil(src.length / 128) + 2);
  let o = 0;
  let i = 0;
  const n = src.length;
  while (i < n) {
    let run = 1;
    while (i + run < n && run < 128 && src[i + run] === src[i]) run++;
    if (run >= 3) {
      out[o++] = 257 - run;
      out[o++] = src[i];
      i += run;
      continue;
    }
    const start = i;
    let lit = 0;
    while (i < n && lit < 128) {
      if (i + 2 < n && src[i] === src[i + 1] && src[i] === src[i + 2]) break;
      i++;
      lit++;
    }
    out[o++] = lit - 1;
    for (let k = 0; k < lit; k++) out[o++] = src[start + k];
  }
  if (o % 2) out[o++] = 0x80; // no-op byte keeps segments even-length
  return out.subarray(0, o);
}

/** One RLE frame of 16-bit pixels: a 64-byte header and two segments (high bytes first). */
export function encodeRle16(pixels: Int16Array | Uint16Array): Buffer {
  const bytes = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const hi = new Uint8Array(pixels.length);
  const lo = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    lo[i] = bytes[2 * i];
    hi[i] = bytes[2 * i + 1];
  }
  const s1 = packBits(hi);
  const s2 = packBits(lo);
  const header = Buffer.alloc(64);
  header.writeUInt32LE(2, 0);
  header.writeUInt32LE(64, 4);
  header.writeUInt32LE(64 + s1.length, 8);
  return Buffer.concat([header, s1, s2]);
}

function item(content: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0xfffe, 0);
  h.writeUInt16LE(0xe000, 2);
  h.writeUInt32LE(content.length, 4);
  return Buffer.concat([h, content]);
}

function encapsulate(frames: Buffer[]): Buffer {
  const offsets = Buffer.alloc(4 * frames.length);
  let pos = 0;
  const items = frames.map((f, i) => {
    offsets.writeUInt32LE(pos, i * 4);
    const it = item(f.length % 2 ? Buffer.concat([f, Buffer.from([0])]) : f);
    pos += it.length;
    return it;
  });
  const delim = Buffer.alloc(8);
  delim.writeUInt16LE(0xfffe, 0);
  delim.writeUInt16LE(0xe0dd, 2);
  return Buffer.concat([item(offsets), ...items, delim]);
}

/**
 * Serialises a data set (elements in ascending tag order, PixelData last) as a Part-10 file in the given
 * transfer syntax. The file meta group is always explicit little endian, as PS3.10 requires.
 */
export function writePart10(
  elements: Element[],
  meta: { sopClassUid: string; sopInstanceUid: string; transferSyntax: WritableTransferSyntax },
): Buffer {
  const ts = meta.transferSyntax;
  const metaOpts = { explicit: true, bigEndian: false };
  const metaBody = Buffer.concat([
    encodeElement({ tag: '00020001', vr: 'OB', value: Buffer.from([0, 1]) }, metaOpts),
    encodeElement({ tag: '00020002', vr: 'UI', value: meta.sopClassUid }, metaOpts),
    encodeElement({ tag: '00020003', vr: 'UI', value: meta.sopInstanceUid }, metaOpts),
    encodeElement({ tag: '00020010', vr: 'UI', value: ts }, metaOpts),
    encodeElement({ tag: '00020012', vr: 'UI', value: '2.25.149311286327441254418203436226102356443' }, metaOpts),
    encodeElement({ tag: '00020013', vr: 'SH', value: 'ANATOMYGW_TEST' }, metaOpts),
  ]);
  const groupLength = encodeElement({ tag: '00020000', vr: 'UL', value: metaBody.length }, metaOpts);
  const opts = { explicit: ts !== TS.implicitLittle, bigEndian: ts === TS.explicitBig };
  const body: Buffer[] = [];
  for (const el of elements) {
    if (el.tag === '7FE00010' && ts === TS.rle) {
      const frames = Array.isArray(el.value) ? [] : [encodeRle16(el.value as Int16Array)];
      body.push(encodeElement({ tag: el.tag, vr: 'OB', value: '' }, opts, encapsulate(frames), true));
    } else {
      body.push(encodeElement(el, opts));
    }
  }
  let dataset = Buffer.concat(body);
  if (ts === TS.deflatedExplicitLittle) dataset = deflateRawSync(dataset, { level: 1 });
  const preamble = Buffer.alloc(132);
  preamble.write('DICM', 128, 'latin1');
  return Buffer.concat([preamble, groupLength, metaBody, dataset]);
}

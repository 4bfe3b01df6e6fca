import { readFile } from 'node:fs/promises';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { httpError } from '../errors.ts';
import { VolumeError } from '../volume/errors.ts';
import { decodeFrame, frameFragments, readPixelFormat, type PixelFormat } from '../volume/pixelData.ts';
import { NATIVE_SYNTAXES } from './accept.ts';

/**
 * Frames of a stored instance, either as stored (the compressed bitstream of one frame, or the native
 * bytes in little endian) or decoded to native little-endian samples, which is what Explicit VR Little
 * Endian carries. One instance's file is held while its frames are read; frames are produced one at a time.
 */

const BIG_ENDIAN = '1.2.840.10008.1.2.2';

export interface PixelSource {
  ds: DataSet;
  fmt: PixelFormat;
  transferSyntax: string;
  encapsulated: boolean;
}

/** Syntaxes whose codecs turn YBR colour into RGB while decoding (the JPEG family and JPEG 2000 with MCT). */
const DECODES_TO_RGB = new Set([
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
]);

export async function loadPixelSource(path: string, transferSyntax: string): Promise<PixelSource> {
  const bytes = await readFile(path);
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch {
    throw httpError(500, 'a stored instance could not be parsed');
  }
  const el = ds.elements.x7fe00010 ?? ds.elements.x7fe00008 ?? ds.elements.x7fe00009;
  if (!el) throw httpError(404, 'this instance has no pixel data', { code: 'no-pixel-data' });
  return { ds, fmt: readPixelFormat(ds), transferSyntax, encapsulated: Boolean(el.encapsulatedPixelData) };
}

/** 1-based frame numbers of a `frames/{list}` URL, checked against the instance. */
export function parseFrameList(list: string, numberOfFrames: number): number[] {
  const frames = list.split(',').map((s) => s.trim());
  if (frames.length === 0 || frames.some((f) => !/^[1-9]\d*$/.test(f))) {
    throw httpError(400, 'frame numbers are a comma-separated list of whole numbers from 1');
  }
  const numbers = frames.map(Number);
  const bad = numbers.find((n) => n > numberOfFrames);
  if (bad !== undefined) {
    throw httpError(404, `frame ${bad} does not exist: the instance has ${numberOfFrames} frame(s)`, {
      code: 'no-such-frame',
    });
  }
  return numbers;
}

function nativeFrameBytes(src: PixelSource): number {
  const { fmt } = src;
  return (fmt.rows * fmt.columns * fmt.samplesPerPixel * fmt.bitsAllocated) / 8;
}

/** Frame `n` (1-based) as stored: compressed frames as their bitstream, native ones little endian. */
export function storedFrame(src: PixelSource, n: number): Buffer {
  const el = src.ds.elements.x7fe00010 ?? src.ds.elements.x7fe00008 ?? src.ds.elements.x7fe00009;
  if (src.encapsulated) {
    const bytes = frameFragments(src.ds, el, n - 1, src.fmt.numberOfFrames, src.transferSyntax);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const { fmt } = src;
  const all = Buffer.from(src.ds.byteArray.buffer, src.ds.byteArray.byteOffset + el.dataOffset, el.length);
  if (fmt.bitsAllocated === 1) {
    // Single-bit frames need not start on a byte: copy the frame's bits to a frame of its own.
    const bits = fmt.rows * fmt.columns * fmt.samplesPerPixel;
    const out = Buffer.alloc(Math.ceil(bits / 8));
    const start = (n - 1) * bits;
    if (Math.ceil((start + bits) / 8) > all.length) throw corrupt(n);
    for (let i = 0; i < bits; i++) {
      const b = start + i;
      if (all[b >> 3] & (1 << (b & 7))) out[i >> 3] |= 1 << (i & 7);
    }
    return out;
  }
  const size = nativeFrameBytes(src);
  const start = (n - 1) * size;
  if (start + size > all.length) throw corrupt(n);
  const frame = Buffer.from(all.subarray(start, start + size));
  if (src.transferSyntax === BIG_ENDIAN && fmt.bitsAllocated === 16) frame.swap16();
  if (src.transferSyntax === BIG_ENDIAN && fmt.bitsAllocated === 32) frame.swap32();
  return frame;
}

function corrupt(n: number): Error {
  return httpError(500, `frame ${n} of a stored instance is shorter than its header says`);
}

/** The whole native Pixel Data value, little endian. */
export function nativePixelData(src: PixelSource): Buffer {
  const el = src.ds.elements.x7fe00010 ?? src.ds.elements.x7fe00008 ?? src.ds.elements.x7fe00009;
  const end = Math.min(src.ds.byteArray.length, el.dataOffset + el.length);
  const value = Buffer.from(src.ds.byteArray.subarray(el.dataOffset, end));
  if (src.transferSyntax === BIG_ENDIAN && src.fmt.bitsAllocated === 16) value.subarray(0, value.length & ~1).swap16();
  if (src.transferSyntax === BIG_ENDIAN && src.fmt.bitsAllocated === 32) value.subarray(0, value.length & ~3).swap32();
  return value;
}

/** Frame `n` (1-based) decoded to native little-endian samples. */
export async function decodedFrame(src: PixelSource, n: number): Promise<Buffer> {
  if (!src.encapsulated) return storedFrame(src, n);
  try {
    const px = await decodeFrame(src.ds, src.transferSyntax, src.fmt, n - 1);
    return Buffer.from(px.buffer, px.byteOffset, px.byteLength);
  } catch (err) {
    if (err instanceof VolumeError) {
      throw httpError(406, `frame ${n} cannot be decoded here (${err.message}); ask for transfer-syntax=*`, {
        code: 'cannot-transcode',
        cause: err,
      });
    }
    throw err;
  }
}

/** The Photometric Interpretation of decoded frames (colour JPEG and JPEG 2000 come out as RGB). */
export function decodedPhotometric(src: PixelSource): string {
  const pi = src.fmt.photometricInterpretation;
  if (
    src.encapsulated &&
    src.fmt.samplesPerPixel === 3 &&
    DECODES_TO_RGB.has(src.transferSyntax) &&
    pi.startsWith('YBR')
  )
    return 'RGB';
  return pi;
}

/** Whether this stored syntax's frames are already native (sent as Explicit VR LE bytes). */
export function isNative(transferSyntax: string): boolean {
  return NATIVE_SYNTAXES.has(transferSyntax);
}

import { createRequire } from 'node:module';
import dicomParser from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import { DECODABLE_TRANSFER_SYNTAXES, transferSyntaxName } from '../dicom/transferSyntaxes.ts';
import { VolumeError } from './errors.ts';
import { decodeJpeg12 } from './jpeg12.ts';

/**
 * Pixel data of one DICOM frame as stored values (before Rescale Slope/Intercept), for every transfer
 * syntax we accept. Compressed syntaxes go to maintained WASM codecs (CharLS, OpenJPEG, libjpeg-turbo) and
 * jpeg-lossless-decoder-js, 12-bit DCT JPEG to libjpeg's 12-bit build (jpeg12.ts); RLE is decoded here
 * (PS3.5 Annex G is 40 lines and no npm package is kept up), deflate is inflated by dicom-parser through zlib.
 */

export function assertSupportedTransferSyntax(uid: string): void {
  if (!DECODABLE_TRANSFER_SYNTAXES[uid]) {
    throw new VolumeError(
      'unsupported-transfer-syntax',
      `The images use ${transferSyntaxName(uid)} (${uid || 'no transfer syntax given'}), which this server cannot decode. Send them uncompressed, JPEG, JPEG-LS, JPEG 2000 or RLE.`,
    );
  }
}

export interface PixelFormat {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
  planarConfiguration: number;
  numberOfFrames: number;
}

export type StoredPixels = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export function readPixelFormat(ds: DataSet): PixelFormat {
  const rows = ds.uint16('x00280010') ?? 0;
  const columns = ds.uint16('x00280011') ?? 0;
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  return {
    rows,
    columns,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    bitsAllocated,
    bitsStored: ds.uint16('x00280101') ?? bitsAllocated,
    pixelRepresentation: ds.uint16('x00280103') ?? 0,
    photometricInterpretation: (ds.string('x00280004') ?? '').trim(),
    planarConfiguration: ds.uint16('x00280006') ?? 0,
    numberOfFrames: Math.max(1, ds.intString('x00280008') ?? 1),
  };
}

// ---- codecs (Emscripten modules without type declarations: the shapes we use are declared here) ----

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  readHeader?(): void;
  getFrameInfo(): FrameInfo;
  delete?(): void;
}
type CodecModule = Record<string, new () => WasmDecoder>;
interface LosslessDecoder {
  decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes: number): Uint8Array | Uint16Array;
}

const require = createRequire(import.meta.url);
const codecCache = new Map<string, Promise<WasmDecoder>>();

/** One decoder instance per codec, created on first use; decoding is synchronous so reuse is safe. */
function wasmDecoder(pkg: string, className: string): Promise<WasmDecoder> {
  let p = codecCache.get(pkg);
  if (!p) {
    const factory = require(pkg) as (opts: { print: () => void; printErr: () => void }) => Promise<CodecModule>;
    // OpenJPEG logs every header it reads to stdout; the codecs' own messages are not ours to show.
    p = factory({ print: () => {}, printErr: () => {} }).then((m) => new m[className]());
    codecCache.set(pkg, p);
  }
  return p;
}

async function decodeWithWasm(
  pkg: string,
  className: string,
  bytes: Uint8Array,
): Promise<{ data: Uint8Array; info: FrameInfo }> {
  const decoder = await wasmDecoder(pkg, className);
  decoder.getEncodedBuffer(bytes.length).set(bytes);
  decoder.decode();
  const info = decoder.getFrameInfo();
  // The decoded buffer is a view into WASM memory, which the next decode overwrites: copy it out.
  return { data: new Uint8Array(decoder.getDecodedBuffer()), info: { ...info } };
}

function decodeJpegLossless(bytes: Uint8Array, bytesPerSample: number): Uint8Array {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const out = new Decoder().decode(bytes.buffer, bytes.byteOffset, bytes.byteLength, bytesPerSample);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The SOF marker's sample precision, which chooses between the 8-bit and the 12-bit JPEG decoder. */
function jpegPrecision(bytes: Uint8Array): number | null {
  for (let i = 2; i + 4 < bytes.length;) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return bytes[i + 4];
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return null;
}

/** PS3.5 Annex G: a 64-byte header of segment offsets, each segment a PackBits-coded byte plane. */
export function decodeRle(bytes: Uint8Array, fmt: PixelFormat): Uint8Array {
  const bytesPerSample = fmt.bitsAllocated / 8;
  const pixels = fmt.rows * fmt.columns;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64)
    throw new VolumeError('corrupt-pixel-data', 'An RLE-compressed frame is shorter than its 64-byte header.');
  const segments = view.getUint32(0, true);
  const expected = fmt.samplesPerPixel * bytesPerSample;
  if (segments !== expected) {
    throw new VolumeError(
      'corrupt-pixel-data',
      `An RLE frame has ${segments} segments where ${expected} were expected for ${fmt.bitsAllocated}-bit pixels with ${fmt.samplesPerPixel} sample(s).`,
    );
  }
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : bytes.length;
    const sample = Math.floor(s / bytesPerSample);
    // Segments hold the most significant byte first; the output is little endian, interleaved by sample.
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = expected;
    let o = sample * bytesPerSample + byteInSample;
    let written = 0;
    let i = start;
    while (i < end && written < pixels) {
      const n = bytes[i++];
      if (n < 128) {
        for (let k = 0; k <= n && written < pixels; k++, written++, o += stride) out[o] = bytes[i + k];
        i += n + 1;
      } else if (n > 128) {
        const v = bytes[i++];
        for (let k = 0; k < 257 - n && written < pixels; k++, written++, o += stride) out[o] = v;
      }
    }
    if (written < pixels)
      throw new VolumeError('corrupt-pixel-data', 'An RLE-compressed frame ends before all its pixels were decoded.');
  }
  return out;
}

// ---- frame access ----

export function frameFragments(ds: DataSet, el: Element, frame: number, frames: number, ts: string): Uint8Array {
  const fragments = el.fragments ?? [];
  if (fragments.length === 0)
    throw new VolumeError('corrupt-pixel-data', 'The compressed pixel data holds no fragments.');
  if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
  if (el.basicOffsetTable && el.basicOffsetTable.length === frames)
    return dicomParser.readEncapsulatedImageFrame(ds, el, frame);
  if (fragments.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, frame, 1);
  if (
    ts.startsWith('1.2.840.10008.1.2.4.5') ||
    ts.startsWith('1.2.840.10008.1.2.4.7') ||
    ts.startsWith('1.2.840.10008.1.2.4.8')
  ) {
    // JPEG family: frame boundaries can be found from the EOI markers.
    const bot = dicomParser.createJPEGBasicOffsetTable(ds, el);
    return dicomParser.readEncapsulatedImageFrame(ds, el, frame, bot);
  }
  throw new VolumeError(
    'corrupt-pixel-data',
    `The compressed pixel data has ${fragments.length} fragments for ${frames} frames and no offset table, so frames cannot be told apart.`,
  );
}

function typedStored(bytes: Uint8Array, fmt: PixelFormat, bigEndian: boolean): StoredPixels {
  const n = fmt.rows * fmt.columns * fmt.samplesPerPixel;
  const signed = fmt.pixelRepresentation === 1;
  const width = fmt.bitsAllocated / 8;
  if (bytes.length < n * width) {
    throw new VolumeError(
      'corrupt-pixel-data',
      `A frame has ${bytes.length} bytes of pixel data where ${n * width} are needed (${fmt.columns}x${fmt.rows}, ${fmt.bitsAllocated} bits); the file is truncated or damaged.`,
    );
  }
  // Copy into a fresh, aligned buffer (the source is a view into the file), swapping when big endian.
  const copy = Buffer.from(bytes.subarray(0, n * width));
  if (bigEndian && width === 2) copy.swap16();
  if (bigEndian && width === 4) copy.swap32();
  const ab = copy.buffer as ArrayBuffer;
  const off = copy.byteOffset;
  let out: StoredPixels;
  if (width === 1) out = signed ? new Int8Array(ab, off, n) : new Uint8Array(ab, off, n);
  else if (width === 2) out = signed ? new Int16Array(ab, off, n) : new Uint16Array(ab, off, n);
  else if (width === 4) out = signed ? new Int32Array(ab, off, n) : new Uint32Array(ab, off, n);
  else
    throw new VolumeError(
      'unsupported-pixel-format',
      `Pixels of ${fmt.bitsAllocated} bits allocated are not supported.`,
    );
  maskStoredBits(out, fmt);
  return out;
}

/** Bits above BitsStored may hold overlays or garbage: clear them, or sign-extend for signed pixels. */
function maskStoredBits(px: StoredPixels, fmt: PixelFormat): void {
  const allocated = fmt.bitsAllocated;
  const stored = fmt.bitsStored;
  if (stored >= allocated || stored <= 0) return;
  if (fmt.pixelRepresentation === 1) {
    const shift = 32 - stored;
    for (let i = 0; i < px.length; i++) px[i] = (px[i] << shift) >> shift;
  } else {
    const mask = stored >= 32 ? 0xffffffff : (1 << stored) - 1;
    for (let i = 0; i < px.length; i++) px[i] = px[i] & mask;
  }
}

/**
 * Decodes frame `frame` (0-based) of a parsed data set into stored values: one sample per pixel, or
 * interleaved samples (RGBRGB...) for colour. Throws VolumeError with a user-facing reason.
 */
export async function decodeFrame(
  ds: DataSet,
  transferSyntax: string,
  fmt: PixelFormat,
  frame: number,
): Promise<StoredPixels> {
  assertSupportedTransferSyntax(transferSyntax);
  const el = ds.elements.x7fe00010 ?? ds.elements.x7fe00008 ?? ds.elements.x7fe00009;
  if (!el || el.length === 0)
    throw new VolumeError('no-pixel-data', 'The DICOM file holds no pixel data (it is not an image).');
  if (![8, 16, 32].includes(fmt.bitsAllocated)) {
    throw new VolumeError(
      'unsupported-pixel-format',
      `Pixels of ${fmt.bitsAllocated} bit(s) allocated cannot be read as an image volume (1-bit data is a segmentation or overlay, not a scan).`,
    );
  }
  if (fmt.rows < 1 || fmt.columns < 1) throw new VolumeError('corrupt-pixel-data', 'The image has no rows or columns.');
  const pixels = fmt.rows * fmt.columns;
  const frameBytes = pixels * fmt.samplesPerPixel * (fmt.bitsAllocated / 8);

  if (!el.encapsulatedPixelData) {
    const start = el.dataOffset + frame * frameBytes;
    const available = Math.min(ds.byteArray.length, el.dataOffset + el.length) - start;
    if (available < frameBytes) {
      throw new VolumeError(
        'corrupt-pixel-data',
        `Frame ${frame + 1} needs ${frameBytes} bytes of pixel data but the file has ${Math.max(0, available)}: it is truncated or damaged.`,
      );
    }
    const bytes = ds.byteArray.subarray(start, start + frameBytes);
    const out = typedStored(bytes, fmt, transferSyntax === '1.2.840.10008.1.2.2');
    return fmt.planarConfiguration === 1 && fmt.samplesPerPixel > 1 ? interleave(out, fmt) : out;
  }

  const encoded = frameFragments(ds, el, frame, fmt.numberOfFrames, transferSyntax);
  let decoded: Uint8Array;
  try {
    decoded = await decodeCompressed(encoded, transferSyntax, fmt);
  } catch (err) {
    if (err instanceof VolumeError) throw err;
    throw new VolumeError(
      'corrupt-pixel-data',
      `Frame ${frame + 1} could not be decoded as ${transferSyntaxName(transferSyntax)}: the compressed data is damaged (${err instanceof Error ? err.message : String(err)}).`,
      { cause: err },
    );
  }
  if (decoded.length < frameBytes) {
    throw new VolumeError(
      'corrupt-pixel-data',
      `Frame ${frame + 1} decoded to ${decoded.length} bytes where ${frameBytes} were expected; the image header and the compressed data disagree.`,
    );
  }
  return typedStored(decoded, fmt, false);
}

async function decodeCompressed(encoded: Uint8Array, ts: string, fmt: PixelFormat): Promise<Uint8Array> {
  switch (ts) {
    case '1.2.840.10008.1.2.5':
      return decodeRle(encoded, fmt);
    case '1.2.840.10008.1.2.4.57':
    case '1.2.840.10008.1.2.4.70':
      return decodeJpegLossless(encoded, fmt.bitsAllocated / 8);
    case '1.2.840.10008.1.2.4.80':
    case '1.2.840.10008.1.2.4.81':
      return (await decodeWithWasm('@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder', encoded)).data;
    case '1.2.840.10008.1.2.4.90':
    case '1.2.840.10008.1.2.4.91':
      return (await decodeWithWasm('@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder', encoded)).data;
    case '1.2.840.10008.1.2.4.50':
    case '1.2.840.10008.1.2.4.51': {
      // Process 4 (12-bit) needs libjpeg's 12-bit build; libjpeg-turbo-8bit stays the decoder for 8-bit.
      const precision = jpegPrecision(encoded);
      if (precision !== null && precision > 8) return decodeJpeg12(encoded, fmt, precision, fmt.samplesPerPixel);
      return (await decodeWithWasm('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder', encoded))
        .data;
    }
    default:
      throw new VolumeError('unsupported-transfer-syntax', `Transfer syntax ${ts} cannot be decoded.`);
  }
}

function interleave(px: StoredPixels, fmt: PixelFormat): StoredPixels {
  const n = fmt.rows * fmt.columns;
  const spp = fmt.samplesPerPixel;
  const out = new (px.constructor as new (n: number) => StoredPixels)(px.length);
  for (let s = 0; s < spp; s++) for (let i = 0; i < n; i++) out[i * spp + s] = px[s * n + i];
  return out;
}

import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { VolumeError } from './errors.ts';
import { ownsWholeBuffer } from './releaseVoxels.ts';
import { fromColumns, norm } from './geometry.ts';
import type { Vec3, Volume, VoxelArray } from './volume.ts';

/**
 * NIfTI-1/2 reader (niftiWrite.ts writes NIfTI-1). Hand-written: the header is a fixed C struct, and what matters —
 * choosing sform over qform, the RAS->LPS flip, scl_slope/inter, keeping the voxels in one typed array
 * without copies — is exactly the part the npm readers (nifti-reader-js reads only, no writer) leave to us.
 */

const gunzipAsync = promisify(gunzip);

export const DT = {
  uint8: 2,
  int16: 4,
  int32: 8,
  float32: 16,
  float64: 64,
  int8: 256,
  uint16: 512,
  uint32: 768,
} as const;
export type NiftiTypeName = keyof typeof DT;

export const ARRAY_OF: Record<
  number,
  { name: NiftiTypeName; bytes: number; make: (buf: ArrayBuffer, off: number, n: number) => VoxelArray }
> = {
  [DT.uint8]: { name: 'uint8', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  [DT.int8]: { name: 'int8', bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  [DT.int16]: { name: 'int16', bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  [DT.uint16]: { name: 'uint16', bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  [DT.int32]: { name: 'int32', bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  [DT.uint32]: { name: 'uint32', bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  [DT.float32]: { name: 'float32', bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  [DT.float64]: { name: 'float64', bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
};

export const XFORM_SCANNER_ANAT = 1;

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** The file or buffer as NIfTI bytes, gunzipped whole when needed (readNifti streams a .nii.gz file first). */
async function loadBytes(pathOrBuffer: string | Uint8Array): Promise<Buffer> {
  const raw =
    typeof pathOrBuffer === 'string'
      ? await readFile(pathOrBuffer)
      : Buffer.from(pathOrBuffer.buffer, pathOrBuffer.byteOffset, pathOrBuffer.byteLength);
  if (!isGzip(raw)) return raw;
  try {
    return await gunzipAsync(raw);
  } catch (err) {
    throw new VolumeError(
      'corrupt-volume-file',
      'The NIfTI file is gzip-compressed but could not be decompressed (it is truncated or damaged).',
      { cause: err },
    );
  }
}

/**
 * A .nii.gz file decompressed as it is read, straight into one buffer sized from the gzip trailer (ISIZE, the
 * length mod 2^32; the buffer grows if that was wrong). Reading the whole file and then gunzipping it held the
 * compressed file, zlib's output chunks and their concatenation at once, still resident during meshing
 * (docs/performance.md). Returns null when the file is not gzip.
 */
async function gunzipFile(path: string): Promise<Buffer | null> {
  const file = await open(path);
  let out: Buffer;
  try {
    const { size } = await file.stat();
    const magic = Buffer.alloc(2);
    await file.read(magic, 0, 2, 0);
    // 18 bytes: the smallest gzip member (header and trailer); anything shorter is left to gunzip's error.
    if (size < 18 || !isGzip(magic)) return null;
    const trailer = Buffer.alloc(4);
    await file.read(trailer, 0, 4, size - 4);
    // Never from Node's pool of small buffers: the volume owns all of it (readNifti).
    out = Buffer.allocUnsafeSlow(Math.max(trailer.readUInt32LE(0), 348));
  } finally {
    await file.close();
  }
  let length = 0;
  try {
    await pipeline(
      createReadStream(path, { highWaterMark: 1 << 20 }),
      createGunzip({ chunkSize: 1 << 20 }),
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          if (length + chunk.length > out.length) {
            const bigger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, length + chunk.length));
            out.copy(bigger, 0, 0, length);
            out = bigger;
          }
          chunk.copy(out, length);
          length += chunk.length;
        }
      },
    );
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') throw err;
    throw new VolumeError(
      'corrupt-volume-file',
      'The NIfTI file is gzip-compressed but could not be decompressed (it is truncated or damaged).',
      { cause: err },
    );
  }
  return out.subarray(0, length);
}

interface Header {
  dims: number[];
  datatype: number;
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  quatern: [number, number, number];
  qoffset: Vec3;
  srow: [number[], number[], number[]];
}

/** Returns the header, or null when the bytes are not NIfTI-1/2 in either byte order. */
export function parseNiftiHeader(buf: Buffer): (Header & { littleEndian: boolean; version: 1 | 2 }) | null {
  if (buf.length < 348) return null;
  for (const littleEndian of [true, false]) {
    const i32 = (o: number) => (littleEndian ? buf.readInt32LE(o) : buf.readInt32BE(o));
    const sizeofHdr = i32(0);
    if (sizeofHdr === 348) {
      const magic = buf.toString('latin1', 344, 347);
      if (magic !== 'n+1' && magic !== 'ni1') continue;
      const i16 = (o: number) => (littleEndian ? buf.readInt16LE(o) : buf.readInt16BE(o));
      const f32 = (o: number) => (littleEndian ? buf.readFloatLE(o) : buf.readFloatBE(o));
      return {
        littleEndian,
        version: 1,
        dims: Array.from({ length: 8 }, (_, k) => i16(40 + 2 * k)),
        datatype: i16(70),
        pixdim: Array.from({ length: 8 }, (_, k) => f32(76 + 4 * k)),
        voxOffset: f32(108),
        sclSlope: f32(112),
        sclInter: f32(116),
        qformCode: i16(252),
        sformCode: i16(254),
        quatern: [f32(256), f32(260), f32(264)],
        qoffset: [f32(268), f32(272), f32(276)],
        srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(280 + 16 * r + 4 * c))) as [
          number[],
          number[],
          number[],
        ],
      };
    }
    if (sizeofHdr === 540 && buf.length >= 540) {
      const magic = buf.toString('latin1', 4, 7);
      if (magic !== 'n+2' && magic !== 'ni2') continue;
      const i64 = (o: number) => Number(littleEndian ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o));
      const i16 = (o: number) => (littleEndian ? buf.readInt16LE(o) : buf.readInt16BE(o));
      const f64 = (o: number) => (littleEndian ? buf.readDoubleLE(o) : buf.readDoubleBE(o));
      return {
        littleEndian,
        version: 2,
        dims: Array.from({ length: 8 }, (_, k) => i64(16 + 8 * k)),
        datatype: i16(12),
        pixdim: Array.from({ length: 8 }, (_, k) => f64(104 + 8 * k)),
        voxOffset: i64(168),
        sclSlope: f64(176),
        sclInter: f64(184),
        qformCode: i32(344),
        sformCode: i32(348),
        quatern: [f64(352), f64(360), f64(368)],
        qoffset: [f64(376), f64(384), f64(392)],
        srow: [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f64(400 + 32 * r + 8 * c))) as [
          number[],
          number[],
          number[],
        ],
      };
    }
  }
  return null;
}

/** The 3x4 index->RAS affine, as nibabel chooses it: sform if set, else qform, else pixdim scaling. */
function rasAffine(h: Header): number[][] {
  if (h.sformCode > 0) return h.srow.map((r) => [...r]);
  const dx = h.pixdim[1] || 1;
  const dy = h.pixdim[2] || 1;
  const dz = h.pixdim[3] || 1;
  if (h.qformCode > 0) {
    const [b, c, d] = h.quatern;
    const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const qfac = h.pixdim[0] < 0 ? -1 : 1;
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    return R.map((row, r) => [row[0] * dx, row[1] * dy, row[2] * dz * qfac, h.qoffset[r]]);
  }
  return [
    [dx, 0, 0, 0],
    [0, dy, 0, 0],
    [0, 0, dz, 0],
  ];
}

export async function readNifti(pathOrBuffer: string | Uint8Array): Promise<Volume> {
  const inflated = typeof pathOrBuffer === 'string' ? await gunzipFile(pathOrBuffer) : null;
  const buf = inflated ?? (await loadBytes(pathOrBuffer));
  const h = parseNiftiHeader(buf);
  if (!h)
    throw new VolumeError('not-a-volume-file', 'The file is not a NIfTI image (no valid NIfTI-1 or NIfTI-2 header).');
  const ndim = h.dims[0];
  if (ndim < 1 || ndim > 7)
    throw new VolumeError('corrupt-volume-file', `The NIfTI header is damaged: it declares ${ndim} dimensions.`);
  const [nx, ny, nz] = [1, 2, 3].map((k) => (k <= ndim ? Math.max(1, h.dims[k]) : 1));
  const extra = h.dims.slice(4, ndim + 1).reduce((p, d) => p * Math.max(1, d), 1);
  if (extra > 1) {
    throw new VolumeError(
      'multiple-volumes',
      `The NIfTI file holds ${extra} volumes (a 4D or 5D series); send a single 3D volume.`,
    );
  }
  const type = ARRAY_OF[h.datatype];
  if (!type) {
    throw new VolumeError(
      'unsupported-volume-file',
      `NIfTI data type ${h.datatype} is not supported (use an integer or float scalar type; RGB and complex are not images we can segment).`,
    );
  }
  const n = nx * ny * nz;
  const offset = h.version === 1 ? Math.max(352, Math.round(h.voxOffset)) : Math.max(544, h.voxOffset);
  if (buf.length < offset + n * type.bytes) {
    throw new VolumeError(
      'corrupt-volume-file',
      `The NIfTI file is truncated: ${nx}x${ny}x${nz} ${type.name} voxels need ${offset + n * type.bytes} bytes, the file has ${buf.length}.`,
    );
  }
  let data: VoxelArray;
  const start = buf.byteOffset + offset;
  if (start % type.bytes === 0 && h.littleEndian) {
    data = type.make(buf.buffer as ArrayBuffer, start, n);
  } else {
    // Unaligned or big-endian data: one copy into a fresh array, swapped in place when needed.
    const copy = Buffer.from(buf.subarray(offset, offset + n * type.bytes));
    if (!h.littleEndian) {
      if (type.bytes === 2) copy.swap16();
      else if (type.bytes === 4) copy.swap32();
      else if (type.bytes === 8) copy.swap64();
    }
    data = type.make(copy.buffer as ArrayBuffer, copy.byteOffset, n);
  }
  data = narrowIntegers(applyScaling(data, h.sclSlope, h.sclInter));
  // A .nii.gz inflated here is read by nothing but this volume, header and all: releaseVoxels may
  // free all of it (the CT's 157 MB stayed resident through the meshing otherwise).
  if (inflated && data.buffer === inflated.buffer) ownsWholeBuffer(data);

  const A = rasAffine(h);
  // RAS -> LPS: negate the first two rows.
  const lps = [A[0].map((v) => -v), A[1].map((v) => -v), A[2]];
  const cols = [0, 1, 2].map((k) => [lps[0][k], lps[1][k], lps[2][k]]);
  const spacing = cols.map((c) => norm(c) || 1) as Vec3;
  const dirCols = cols.map((c, k) => c.map((v) => v / spacing[k] + 0)); // + 0 turns -0 into 0
  const direction = fromColumns(dirCols[0], dirCols[1], dirCols[2]);
  const origin: Vec3 = [lps[0][3] + 0, lps[1][3] + 0, lps[2][3] + 0];
  return { dims: [nx, ny, nz], spacing, origin, direction, data };
}

/**
 * Tools often store CT and label maps as 32-bit integers; the rest of the pipeline expects Int16 CT and
 * Uint8/Uint16 labels and half the memory, so 32-bit data is narrowed when every value fits.
 */
export function narrowIntegers(data: VoxelArray): VoxelArray {
  if (!(data instanceof Int32Array || data instanceof Uint32Array)) return data;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const ctor =
    lo >= 0 && hi <= 255
      ? Uint8Array
      : lo >= 0 && hi <= 65535
        ? Uint16Array
        : lo >= -32768 && hi <= 32767
          ? Int16Array
          : null;
  if (!ctor) return data;
  const out = new ctor(data.length);
  out.set(data);
  return out;
}

/** scl_slope = 0 means "no scaling" (NIfTI-1 standard); integer slope/intercept keep integer storage. */
function applyScaling(data: VoxelArray, slope: number, inter: number): VoxelArray {
  if (!Number.isFinite(slope) || slope === 0 || (slope === 1 && (inter === 0 || !Number.isFinite(inter)))) return data;
  const b = Number.isFinite(inter) ? inter : 0;
  const integral =
    Number.isInteger(slope) && Number.isInteger(b) && !(data instanceof Float32Array || data instanceof Float64Array);
  if (integral) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i] * slope + b;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo >= -32768 && hi <= 32767) {
      const out = new Int16Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = data[i] * slope + b;
      return out;
    }
    if (lo >= -2147483648 && hi <= 2147483647) {
      const out = new Int32Array(data.length);
      for (let i = 0; i < data.length; i++) out[i] = data[i] * slope + b;
      return out;
    }
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] * slope + b;
  return out;
}

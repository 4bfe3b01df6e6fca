import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { determinant } from './geometry.ts';
import type { Mat3, Volume, VoxelArray } from './volume.ts';
import { ARRAY_OF, DT, XFORM_SCANNER_ANAT, type NiftiTypeName } from './nifti.ts';

/** Writes NIfTI-1 files (.nii, .nii.gz) of our LPS volumes; nifti.ts reads them. */

export interface WriteNiftiOptions {
  /** Storage type; default from the array (Float32 CT whose values are whole numbers in range -> int16). */
  datatype?: NiftiTypeName;
  /** gzip level (default 3: CT pixel data gains little from higher levels and costs much more time). */
  level?: number;
  /** Up to 79 ASCII characters; never put patient data here. */
  description?: string;
}

function isWholeInt16(data: VoxelArray): boolean {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== Math.round(v) || v < -32768 || v > 32767) return false;
  }
  return true;
}

function chooseType(volume: Volume, requested?: NiftiTypeName): NiftiTypeName {
  if (requested) return requested;
  const d = volume.data;
  if (d instanceof Int16Array) return 'int16';
  if (d instanceof Uint8Array) return 'uint8';
  if (d instanceof Uint16Array) return 'uint16';
  if (d instanceof Int8Array) return 'int8';
  if (d instanceof Int32Array) return 'int32';
  if (d instanceof Uint32Array) return 'uint32';
  if (isWholeInt16(d)) return 'int16';
  return d instanceof Float64Array ? 'float64' : 'float32';
}

function convert(data: VoxelArray, name: NiftiTypeName): VoxelArray {
  const ctor = {
    uint8: Uint8Array,
    int8: Int8Array,
    int16: Int16Array,
    uint16: Uint16Array,
    int32: Int32Array,
    uint32: Uint32Array,
    float32: Float32Array,
    float64: Float64Array,
  }[name];
  if (data instanceof ctor) return data;
  const out = new ctor(data.length);
  const integer = name !== 'float32' && name !== 'float64';
  for (let i = 0; i < data.length; i++) out[i] = integer ? Math.round(data[i]) : data[i];
  return out;
}

/** nifti_mat44_to_quatern for an orthonormal R (columns = axes), returning [b, c, d] and qfac. */
function quaternion(R: Mat3): { b: number; c: number; d: number; qfac: number } {
  let m = [...R];
  let qfac = 1;
  if (determinant(R) < 0) {
    qfac = -1;
    m = [m[0], m[1], -m[2], m[3], m[4], -m[5], m[6], m[7], -m[8]];
  }
  const [r11, r12, r13, r21, r22, r23, r31, r32, r33] = m;
  let a = r11 + r22 + r33 + 1;
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac };
}

/** Builds the 352-byte NIfTI-1 header (+ empty extension flag) for a volume. */
export function niftiHeader(volume: Volume, datatype: NiftiTypeName, description = 'anatomy-gateway'): Buffer {
  const h = Buffer.alloc(352);
  const [nx, ny, nz] = volume.dims;
  const code = DT[datatype];
  const bytes = ARRAY_OF[code].bytes;
  h.writeInt32LE(348, 0);
  h.write('r', 38, 'latin1'); // "regular" as ANALYZE readers expect
  h.writeInt16LE(3, 40);
  h.writeInt16LE(nx, 42);
  h.writeInt16LE(ny, 44);
  h.writeInt16LE(nz, 46);
  for (let k = 4; k < 8; k++) h.writeInt16LE(1, 40 + 2 * k);
  h.writeInt16LE(code, 70);
  h.writeInt16LE(bytes * 8, 72);
  // LPS -> RAS: direction rows 0 and 1 change sign, and so do origin x and y.
  const D = volume.direction;
  const ras: Mat3 = [-D[0], -D[1], -D[2], -D[3], -D[4], -D[5], D[6], D[7], D[8]];
  const q = quaternion(ras);
  h.writeFloatLE(q.qfac, 76);
  volume.spacing.forEach((s, k) => h.writeFloatLE(s, 80 + 4 * k));
  for (let k = 4; k < 8; k++) h.writeFloatLE(k === 4 ? 0 : 1, 76 + 4 * k);
  h.writeFloatLE(352, 108);
  h.writeFloatLE(1, 112); // scl_slope: values are stored as they are
  h.writeFloatLE(0, 116);
  h.writeUInt8(2 | 8, 123); // mm, seconds
  h.write(description.replace(/[^\x20-\x7e]/g, '').slice(0, 79), 148, 'latin1');
  h.writeInt16LE(XFORM_SCANNER_ANAT, 252);
  h.writeInt16LE(XFORM_SCANNER_ANAT, 254);
  h.writeFloatLE(q.b, 256);
  h.writeFloatLE(q.c, 260);
  h.writeFloatLE(q.d, 264);
  const o = volume.origin;
  const rasOrigin = [-o[0], -o[1], o[2]];
  rasOrigin.forEach((v, k) => h.writeFloatLE(v, 268 + 4 * k));
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) h.writeFloatLE(ras[r * 3 + c] * volume.spacing[c], 280 + 16 * r + 4 * c);
    h.writeFloatLE(rasOrigin[r], 280 + 16 * r + 12);
  }
  h.write('n+1\0', 344, 'latin1');
  return h;
}

/**
 * Writes `volume` as NIfTI-1 (gzip when the path ends in .gz) with qform and sform both set to scanner
 * coordinates. Atomic: a temporary name in the same folder, renamed on success, removed on failure.
 */
export async function writeNifti(path: string, volume: Volume, opts: WriteNiftiOptions = {}): Promise<void> {
  const datatype = chooseType(volume, opts.datatype);
  const data = convert(volume.data, datatype);
  const header = niftiHeader(volume, datatype, opts.description);
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    // Chunks of 8 MB keep the gzip stream fed without copying the whole volume.
    const chunks = function* (): Generator<Buffer> {
      yield header;
      for (let o = 0; o < bytes.length; o += 8 << 20) yield bytes.subarray(o, Math.min(bytes.length, o + (8 << 20)));
    };
    const source = Readable.from(chunks(), { objectMode: false });
    if (path.endsWith('.gz')) {
      await pipeline(
        source,
        // Output in 1 MB chunks: zlib's default 16 KB costs a thread-pool round trip each (docs/performance.md).
        createGzip({ level: opts.level ?? 3, strategy: zlibConstants.Z_DEFAULT_STRATEGY, chunkSize: 1 << 20 }),
        createWriteStream(tmp, { flags: 'wx' }),
      );
    } else {
      await pipeline(source, createWriteStream(tmp, { flags: 'wx' }));
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { VolumeError } from './errors.ts';
import { fromColumns, norm } from './geometry.ts';
import { narrowIntegers } from './nifti.ts';
import type { Vec3, Volume, VoxelArray } from './volume.ts';

/**
 * NRRD reader (teem's format as written by Slicer, ITK, pynrrd). Hand-written: the header is a few
 * lines of text and the npm packages for it are unmaintained; what needs care is the geometry — `space`
 * names the world frame (RAS/LAS/LPS...), `space directions`/`space origin` give the index->world map,
 * and we convert everything to LPS. Supports raw and gzip encodings, attached or detached (`data file`).
 */

const gunzipAsync = promisify(gunzip);

const TYPES: Record<string, { bytes: number; make: (b: ArrayBuffer, o: number, n: number) => VoxelArray }> = {
  int8: { bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  uint8: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  int16: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  uint16: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  int32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  uint32: { bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  float: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  double: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
};

/** The many spellings teem accepts for each type. */
function canonicalType(t: string): string | null {
  const s = t.trim().toLowerCase().replace(/\s+/g, ' ');
  const map: Record<string, string> = {
    'signed char': 'int8',
    int8: 'int8',
    int8_t: 'int8',
    uchar: 'uint8',
    'unsigned char': 'uint8',
    uint8: 'uint8',
    uint8_t: 'uint8',
    short: 'int16',
    'short int': 'int16',
    'signed short': 'int16',
    'signed short int': 'int16',
    int16: 'int16',
    int16_t: 'int16',
    ushort: 'uint16',
    'unsigned short': 'uint16',
    'unsigned short int': 'uint16',
    uint16: 'uint16',
    uint16_t: 'uint16',
    int: 'int32',
    'signed int': 'int32',
    int32: 'int32',
    int32_t: 'int32',
    uint: 'uint32',
    'unsigned int': 'uint32',
    uint32: 'uint32',
    uint32_t: 'uint32',
    float: 'float',
    double: 'double',
  };
  return map[s] ?? null;
}

/** Sign flips that take a named 3D space to LPS. */
const SPACE_TO_LPS: Record<string, Vec3> = {
  'left-posterior-superior': [1, 1, 1],
  lps: [1, 1, 1],
  'right-anterior-superior': [-1, -1, 1],
  ras: [-1, -1, 1],
  'left-anterior-superior': [1, -1, 1],
  las: [1, -1, 1],
  'scanner-xyz': [1, 1, 1],
  '3d-right-handed': [1, 1, 1],
};

function parseVector(s: string): number[] | null {
  const m = s.trim().match(/^\(([^)]*)\)$/);
  if (!m) return null;
  return m[1].split(',').map((x) => Number(x.trim()));
}

function headerEnd(buf: Buffer): number {
  // The header ends at the first blank line (LF LF or CRLF CRLF).
  const lf = buf.indexOf('\n\n');
  const crlf = buf.indexOf('\r\n\r\n');
  if (lf < 0 && crlf < 0) return -1;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf + 2;
}

export async function readNrrd(pathOrBuffer: string | Uint8Array): Promise<Volume> {
  const buf =
    typeof pathOrBuffer === 'string'
      ? await readFile(pathOrBuffer)
      : Buffer.from(pathOrBuffer.buffer, pathOrBuffer.byteOffset, pathOrBuffer.byteLength);
  if (buf.toString('latin1', 0, 4) !== 'NRRD')
    throw new VolumeError('not-a-volume-file', 'The file is not NRRD (it does not start with "NRRD000x").');
  const end = headerEnd(buf);
  // A detached header (.nhdr) may have no data after it: then `end` is the file length or -1.
  const headerText = buf.toString('latin1', 0, end < 0 ? buf.length : end);
  const fields = new Map<string, string>();
  for (const line of headerText.split(/\r?\n/).slice(1)) {
    if (!line || line.startsWith('#')) continue;
    const idx = line.indexOf(': ');
    if (idx < 0) continue; // key:=value pairs are free-form metadata
    fields.set(line.slice(0, idx).trim().toLowerCase(), line.slice(idx + 2).trim());
  }
  const typeName = canonicalType(fields.get('type') ?? '');
  if (!typeName)
    throw new VolumeError(
      'unsupported-volume-file',
      `NRRD type "${fields.get('type') ?? '(missing)'}" is not supported.`,
    );
  const type = TYPES[typeName];
  const dimension = Number(fields.get('dimension'));
  const sizes = (fields.get('sizes') ?? '').split(/\s+/).map(Number);
  if (!Number.isInteger(dimension) || sizes.length !== dimension || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new VolumeError(
      'corrupt-volume-file',
      'The NRRD header is damaged: "dimension" and "sizes" disagree or are missing.',
    );
  }
  const kinds = (fields.get('kinds') ?? '').split(/\s+/).filter(Boolean);
  const spatialAxes =
    kinds.length === dimension
      ? kinds.map((k, i) => (/^(domain|space)$/i.test(k) ? i : -1)).filter((i) => i >= 0)
      : [...Array(dimension).keys()];
  const nonSpatial = [...Array(dimension).keys()].filter((i) => !spatialAxes.includes(i));
  if (
    spatialAxes.length > 3 ||
    spatialAxes.length < 2 ||
    nonSpatial.some((i) => sizes[i] > 1) ||
    nonSpatial.some((i) => i < spatialAxes[0])
  ) {
    throw new VolumeError(
      'unsupported-volume-file',
      `The NRRD file is not a single scalar 3D volume (sizes ${sizes.join('x')}, kinds ${kinds.join(' ') || 'unknown'}).`,
    );
  }
  const dims: Vec3 = [sizes[spatialAxes[0]], sizes[spatialAxes[1]], spatialAxes.length > 2 ? sizes[spatialAxes[2]] : 1];

  const encoding = (fields.get('encoding') ?? 'raw').toLowerCase();
  let payload: Buffer;
  const dataFile = fields.get('data file') ?? fields.get('datafile');
  if (dataFile) {
    if (typeof pathOrBuffer !== 'string')
      throw new VolumeError(
        'unsupported-volume-file',
        'A detached NRRD header (.nhdr) needs its data file; upload the .nrrd form instead.',
      );
    payload = await readFile(resolve(dirname(pathOrBuffer), dataFile));
  } else {
    if (end < 0)
      throw new VolumeError('corrupt-volume-file', 'The NRRD file has no blank line ending its header, so no data.');
    payload = buf.subarray(end);
  }
  const n = dims[0] * dims[1] * dims[2];
  if (encoding === 'gzip' || encoding === 'gz') {
    try {
      payload = await gunzipAsync(payload);
    } catch (err) {
      throw new VolumeError(
        'corrupt-volume-file',
        'The NRRD data is gzip-compressed but could not be decompressed (truncated or damaged).',
        { cause: err },
      );
    }
  } else if (encoding !== 'raw') {
    throw new VolumeError('unsupported-volume-file', `NRRD encoding "${encoding}" is not supported (use raw or gzip).`);
  }
  const byteSkip = Number(fields.get('byte skip') ?? 0);
  const skip = byteSkip === -1 ? payload.length - n * type.bytes : byteSkip;
  if (payload.length < skip + n * type.bytes) {
    throw new VolumeError(
      'corrupt-volume-file',
      `The NRRD data is truncated: ${dims.join('x')} ${typeName} voxels need ${n * type.bytes} bytes, there are ${payload.length - skip}.`,
    );
  }
  const bigEndian = type.bytes > 1 && (fields.get('endian') ?? 'little').toLowerCase() === 'big';
  let bytes = payload.subarray(skip, skip + n * type.bytes);
  if (bigEndian || bytes.byteOffset % type.bytes !== 0) {
    bytes = Buffer.from(bytes);
    if (bigEndian) {
      if (type.bytes === 2) bytes.swap16();
      else if (type.bytes === 4) bytes.swap32();
      else bytes.swap64();
    }
  }
  const data = narrowIntegers(type.make(bytes.buffer as ArrayBuffer, bytes.byteOffset, n));

  const space = (fields.get('space') ?? '').toLowerCase();
  const flip = SPACE_TO_LPS[space];
  if (space && !flip)
    throw new VolumeError(
      'unsupported-volume-file',
      `NRRD space "${space}" is not a patient space we can place (use RAS, LAS or LPS).`,
    );
  const dirText = fields.get('space directions');
  let columns: number[][];
  let spacing: Vec3;
  if (dirText) {
    const vectors = dirText.split(/\s+(?=\(|none)/i).map((s) => (s.toLowerCase() === 'none' ? null : parseVector(s)));
    const spatialVectors = vectors.filter((v): v is number[] => v !== null);
    if (
      spatialVectors.length !== spatialAxes.length ||
      spatialVectors.some((v) => v.length !== 3 || v.some((x) => !Number.isFinite(x)))
    ) {
      throw new VolumeError('corrupt-volume-file', 'The NRRD "space directions" field is damaged.');
    }
    const f = flip ?? [1, 1, 1];
    columns = spatialVectors.map((v) => [v[0] * f[0], v[1] * f[1], v[2] * f[2]]);
    if (columns.length === 2) columns.push([0, 0, 1]);
    spacing = columns.map((c) => norm(c) || 1) as Vec3;
    columns = columns.map((c, k) => c.map((x) => x / spacing[k] + 0));
  } else {
    // No world frame: NRRD's older `spacings` field (or 1 mm) on the identity axes.
    const sp = (fields.get('spacings') ?? '').split(/\s+/).map(Number);
    spacing = [0, 1, 2].map((k) =>
      Number.isFinite(sp[spatialAxes[k]]) && sp[spatialAxes[k]] > 0 ? sp[spatialAxes[k]] : 1,
    ) as Vec3;
    columns = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ];
  }
  const originVec = fields.get('space origin') ? parseVector(fields.get('space origin') ?? '') : [0, 0, 0];
  if (!originVec || originVec.length !== 3 || originVec.some((x) => !Number.isFinite(x))) {
    throw new VolumeError('corrupt-volume-file', 'The NRRD "space origin" field is damaged.');
  }
  const f = flip ?? [1, 1, 1];
  const origin: Vec3 = [originVec[0] * f[0] + 0, originVec[1] * f[1] + 0, originVec[2] * f[2] + 0];
  return { dims, spacing, origin, direction: fromColumns(columns[0], columns[1], columns[2]), data };
}

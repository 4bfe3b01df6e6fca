import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import type { Rgb } from '../volume/volume.ts';

/**
 * Files for 3D printers, beside the glTF: `<name>.3mf` (3MF core specification 1.3: one named
 * object per structure with its colour, millimetres) and `<name>_stl.zip` (one binary STL per
 * structure). Coordinates are patient LPS millimetres, as in the glTF's accessors, so the parts of
 * one scan print in register; the 3MF says so in its metadata, the STL in its header.
 */

export interface PrintSurface {
  /** LPS millimetres. */
  positions: Float32Array;
  /** Counter-clockwise seen from outside. */
  indices: Uint32Array;
}

export interface PrintModel {
  name: string;
  /** 0..1, as the segment's colour (`colorHex` in `_segments.json`). */
  color: Rgb;
  opacity: number;
  /**
   * Or the promise of it, while it is still being meshed: a file is written structure by structure
   * as the surfaces come, and a surface that fails fails the file.
   */
  surface: PrintSurface | Promise<PrintSurface>;
}

export const COORDINATE_SYSTEM = 'LPS';
const APPLICATION = 'anatomy-gateway';
/** Our namespace for metadata the 3MF core does not name (the specification asks for one). */
const AG_NAMESPACE = 'https://github.com/anatomy-gateway/3mf/2026';
const CORE_NAMESPACE = 'http://schemas.microsoft.com/3dmanufacturing/core/2015/02';
const MODEL_PATH = '3D/3dmodel.model';

/** Chunks of this size are handed to the zip as they fill: no whole file is ever held in memory. */
const CHUNK = 1 << 20;

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => XML_ESCAPES[c]);
}

function colorHex(color: Rgb, opacity: number): string {
  const byte = (v: number): string =>
    Math.round(Math.min(1, Math.max(0, v)) * 255)
      .toString(16)
      .padStart(2, '0')
      .toUpperCase();
  return `#${color.map(byte).join('')}${opacity < 1 ? byte(opacity) : ''}`;
}

/**
 * ASCII written straight into byte chunks: formatting millions of numbers through strings is 3-4x
 * slower. Each chunk is handed on once full; no whole file is ever held.
 */
class AsciiChunks {
  #buf = Buffer.allocUnsafe(CHUNK);
  #at = 0;
  readonly done: Buffer[] = [];

  text(s: string): void {
    const bytes = Buffer.byteLength(s, 'utf8');
    if (this.#at + bytes > CHUNK) this.flush();
    if (bytes > CHUNK) this.done.push(Buffer.from(s, 'utf8'));
    else this.#at += this.#buf.write(s, this.#at, 'utf8');
  }

  bytes(b: Uint8Array, from = 0, to = b.length): void {
    const buf = this.#buf;
    let at = this.#at;
    for (let i = from; i < to; i++) buf[at++] = b[i];
    this.#at = at;
  }

  /** `v` rounded to four decimals (a tenth of a micrometre), trailing zeros kept. */
  fixed4(v: number): void {
    if (!Number.isFinite(v)) throw new Error(`a vertex coordinate is ${v}`);
    const buf = this.#buf;
    let n = Math.round(v * 10000);
    if (n < 0) {
      buf[this.#at++] = 45;
      n = -n;
    }
    const whole = Math.floor(n / 10000);
    let frac = n - whole * 10000;
    let digits = 1;
    for (let t = whole; t >= 10; t = Math.floor(t / 10)) digits++;
    const end = this.#at + digits;
    for (let w = whole, i = end - 1; i >= this.#at; i--, w = Math.floor(w / 10)) buf[i] = 48 + (w % 10);
    buf[end] = 46;
    for (let i = end + 4; i > end; i--, frac = Math.floor(frac / 10)) buf[i] = 48 + (frac % 10);
    this.#at = end + 5;
  }

  /** `<vertex .../>` lines from the vertex at `p` (an offset into positions) until this chunk is full; the next offset. */
  vertexLines(positions: Float32Array, p: number): number {
    for (; p < positions.length && this.#at + 96 <= CHUNK; p += 3) {
      this.bytes(VERTEX_X);
      this.fixed4(positions[p]);
      this.bytes(VERTEX_Y);
      this.fixed4(positions[p + 1]);
      this.bytes(VERTEX_Z);
      this.fixed4(positions[p + 2]);
      this.bytes(LINE_END);
    }
    this.flush();
    return p;
  }

  /** `<triangle .../>` lines from offset `t` into indices until this chunk is full; the next offset. */
  triangleLines(indices: Uint32Array, digits: Uint8Array, start: Uint32Array, t: number): number {
    for (; t < indices.length && this.#at + 80 <= CHUNK; t += 3) {
      const a = indices[t];
      const b = indices[t + 1];
      const c = indices[t + 2];
      this.bytes(TRIANGLE_V1);
      this.bytes(digits, start[a], start[a + 1]);
      this.bytes(TRIANGLE_V2);
      this.bytes(digits, start[b], start[b + 1]);
      this.bytes(TRIANGLE_V3);
      this.bytes(digits, start[c], start[c + 1]);
      this.bytes(LINE_END);
    }
    this.flush();
    return t;
  }

  flush(): void {
    if (this.#at === 0) return;
    this.done.push(Buffer.from(this.#buf.subarray(0, this.#at)));
    this.#buf = Buffer.allocUnsafe(CHUNK);
    this.#at = 0;
  }

  take(): Buffer[] {
    return this.done.splice(0);
  }
}

/**
 * The decimal digits of 0..count-1 one after another, and where each starts: the three indices of
 * each of a mesh's triangles are then copied rather than formatted.
 */
function decimalTable(count: number): { digits: Uint8Array; start: Uint32Array } {
  const start = new Uint32Array(count + 1);
  for (let i = 0, width = 1, wider = 10; i < count; i++) {
    if (i === wider) {
      width++;
      wider *= 10;
    }
    start[i + 1] = start[i] + width;
  }
  const digits = new Uint8Array(start[count]);
  for (let i = 0; i < count; i++)
    for (let v = i, at = start[i + 1] - 1; at >= start[i]; at--, v = Math.floor(v / 10)) digits[at] = 48 + (v % 10);
  return { digits, start };
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const VERTEX_X = ascii('<vertex x="');
const VERTEX_Y = ascii('" y="');
const VERTEX_Z = ascii('" z="');
const TRIANGLE_V1 = ascii('<triangle v1="');
const TRIANGLE_V2 = ascii('" v2="');
const TRIANGLE_V3 = ascii('" v3="');
const LINE_END = ascii('"/>\n');

/** The 3MF model part, a chunk at a time. Vertex and triangle lines are not indented: they are most of the file. */
async function* modelXml(title: string, models: readonly PrintModel[]): AsyncGenerator<Buffer> {
  const out = new AsciiChunks();
  out.text(
    `<?xml version="1.0" encoding="UTF-8"?>\n<model unit="millimeter" xml:lang="en-US" xmlns="${CORE_NAMESPACE}" xmlns:ag="${AG_NAMESPACE}">\n` +
      ` <metadata name="Title">${escapeXml(title)}</metadata>\n` +
      ` <metadata name="Application">${APPLICATION}</metadata>\n` +
      ` <metadata name="Description">Anatomy from a medical scan, one object per structure. Coordinates are patient ${COORDINATE_SYSTEM} millimetres (x towards the patient's left, y towards the back, z towards the head).</metadata>\n` +
      ` <metadata name="ag:coordinateSystem">${COORDINATE_SYSTEM}</metadata>\n` +
      ` <resources>\n  <basematerials id="1">\n`,
  );
  for (const m of models)
    out.text(`   <base name="${escapeXml(m.name)}" displaycolor="${colorHex(m.color, m.opacity)}"/>\n`);
  out.text('  </basematerials>\n');
  for (let i = 0; i < models.length; i++) {
    const { name } = models[i];
    const { positions, indices } = await models[i].surface;
    out.text(
      `  <object id="${i + 2}" type="model" name="${escapeXml(name)}" pid="1" pindex="${i}">\n   <mesh>\n    <vertices>\n`,
    );
    for (let p = 0; p < positions.length;) {
      p = out.vertexLines(positions, p);
      yield* out.take();
    }
    out.text('    </vertices>\n    <triangles>\n');
    const { digits, start } = decimalTable(positions.length / 3);
    for (let t = 0; t < indices.length;) {
      t = out.triangleLines(indices, digits, start, t);
      yield* out.take();
    }
    out.text('    </triangles>\n   </mesh>\n  </object>\n');
  }
  out.text(' </resources>\n <build>\n');
  for (let i = 0; i < models.length; i++) out.text(`  <item objectid="${i + 2}"/>\n`);
  out.text(' </build>\n</model>\n');
  out.flush();
  yield* out.take();
}

const CONTENT_TYPES =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>\n';

const RELS =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  `<Relationship Target="/${MODEL_PATH}" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>\n`;

/** One binary STL (80-byte header, triangle count, 50 bytes per triangle with its unit normal), a chunk at a time. */
async function* binaryStl(model: PrintModel): AsyncGenerator<Buffer> {
  const { positions: p, indices } = await model.surface;
  const triangles = indices.length / 3;
  const head = Buffer.alloc(84, 0x20);
  // Not starting with "solid", which some readers take for ASCII STL.
  head.write(`${APPLICATION}: ${model.name}; millimetres, patient ${COORDINATE_SYSTEM}`.slice(0, 80), 0, 'latin1');
  head.writeUInt32LE(triangles, 80);
  yield head;
  const perChunk = Math.floor(CHUNK / 50);
  for (let first = 0; first < triangles; first += perChunk) {
    const count = Math.min(perChunk, triangles - first);
    const buf = Buffer.alloc(count * 50);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let k = 0; k < count; k++) {
      const t = (first + k) * 3;
      const a = indices[t] * 3;
      const b = indices[t + 1] * 3;
      const c = indices[t + 2] * 3;
      const ux = p[b] - p[a];
      const uy = p[b + 1] - p[a + 1];
      const uz = p[b + 2] - p[a + 2];
      const vx = p[c] - p[a];
      const vy = p[c + 1] - p[a + 1];
      const vz = p[c + 2] - p[a + 2];
      let nx = uy * vz - uz * vy;
      let ny = uz * vx - ux * vz;
      let nz = ux * vy - uy * vx;
      const len = Math.sqrt(nx * nx + ny * ny + nz * nz);
      if (len > 0) {
        nx /= len;
        ny /= len;
        nz /= len;
      }
      const o = k * 50;
      view.setFloat32(o, nx, true);
      view.setFloat32(o + 4, ny, true);
      view.setFloat32(o + 8, nz, true);
      view.setFloat32(o + 12, p[a], true);
      view.setFloat32(o + 16, p[a + 1], true);
      view.setFloat32(o + 20, p[a + 2], true);
      view.setFloat32(o + 24, p[b], true);
      view.setFloat32(o + 28, p[b + 1], true);
      view.setFloat32(o + 32, p[b + 2], true);
      view.setFloat32(o + 36, p[c], true);
      view.setFloat32(o + 40, p[c + 1], true);
      view.setFloat32(o + 44, p[c + 2], true);
    }
    yield buf;
  }
}

/** A structure's name as a file name inside the zip: no path separators or control characters, no two alike. */
export function stlFileNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((raw) => {
    const clean = raw.replace(/[/\\:*?"<>|\x00-\x1f]/g, '_').trim() || 'structure';
    let candidate = clean;
    for (let n = 2; seen.has(candidate.toLowerCase()); n++) candidate = `${clean} (${n})`;
    seen.add(candidate.toLowerCase());
    return `${candidate}.stl`;
  });
}

interface ZipPart {
  name: string;
  data: () => AsyncIterable<Buffer> | Iterable<Buffer>;
  /** Stored as is: binary STL deflates by only about a fifth, at a second of CPU per 70 MB. */
  store?: boolean;
}

/**
 * Writes a zip through a temporary name and renames it into place, so readers never see half a file.
 * Stops, with nothing left behind, when `signal` aborts.
 */
async function writeZipAtomic(path: string, parts: ZipPart[], level: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  // zlib's default 16 KB output chunks cost a thread-pool round trip each, and building the XML and
  // deflating it took turns instead of overlapping (docs/performance.md).
  const archive = new ZipArchive({ zlib: { level, chunkSize: CHUNK }, highWaterMark: CHUNK });
  // Each part's data is made only when the archive reaches it.
  const sources = parts.map((part) => {
    const source = Readable.from(part.data(), { objectMode: false });
    // archiver does not listen for its sources' errors: a part that cannot be made fails the file.
    source.once('error', (err) => archive.destroy(err));
    archive.append(source, { name: part.name, store: part.store ?? false });
    return source;
  });
  const stop = (): void => void archive.destroy(signal?.reason);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    await Promise.all([pipeline(archive, createWriteStream(tmp, { flags: 'wx', mode: 0o600 })), archive.finalize()]);
    await rename(tmp, path);
  } catch (err) {
    archive.destroy();
    for (const source of sources) source.destroy();
    await rm(tmp, { force: true });
    throw err;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}

/** `<name>.3mf`: one object per structure, named and coloured, in millimetres. */
export async function write3mf(
  path: string,
  title: string,
  models: readonly PrintModel[],
  signal?: AbortSignal,
): Promise<void> {
  handleFailedSurfaces(models);
  await writeZipAtomic(
    path,
    [
      { name: '[Content_Types].xml', data: () => [Buffer.from(CONTENT_TYPES)] },
      { name: '_rels/.rels', data: () => [Buffer.from(RELS)] },
      { name: MODEL_PATH, data: () => modelXml(title, models) },
    ],
    1,
    signal,
  );
}

/** `<name>_stl.zip`: one binary STL per structure, named after it. */
export async function writeStlZip(path: string, models: readonly PrintModel[], signal?: AbortSignal): Promise<void> {
  handleFailedSurfaces(models);
  const names = stlFileNames(models.map((m) => m.name));
  await writeZipAtomic(
    path,
    models.map((m, i) => ({ name: names[i], data: () => binaryStl(m), store: true })),
    1,
    signal,
  );
}

/**
 * `<name>.3mf`, then `<name>_stl.zip`, in `outDir`; their paths. One at a time, to hold less at a
 * job's peak: the 3MF takes the surfaces as they come, the STL zip follows once all have.
 */
export async function writePrintFiles(
  outDir: string,
  name: string,
  models: readonly PrintModel[],
  signal?: AbortSignal,
): Promise<string[]> {
  const threeMf = join(outDir, `${name}.3mf`);
  const stlZip = join(outDir, `${name}_stl.zip`);
  await write3mf(threeMf, name, models, signal);
  await writeStlZip(stlZip, models, signal);
  return [threeMf, stlZip];
}

/**
 * A file stops at the first surface that fails; one failing after it is never awaited, and would
 * be an unhandled rejection (which ends the process) without this.
 */
function handleFailedSurfaces(models: readonly PrintModel[]): void {
  for (const { surface } of models) if (surface instanceof Promise) surface.catch(() => undefined);
}

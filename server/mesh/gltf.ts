import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { Document, Format, NodeIO, VertexLayout, type GLTF } from '@gltf-transform/core';
import type { Rgb } from '../volume/volume.ts';

/**
 * glTF 2.0 in SlicerOpenAnatomy's layout: one scene whose single root node `<name>_Models` carries
 * the LPS-millimetre -> glTF-metre matrix, one child node per structure with a mesh of the same
 * name, one material per mesh named as its structure too (baseColorFactor = segment colour and
 * opacity; BLEND below 1).
 * Vertex positions stay in LPS millimetres, as OpenAnatomy writes them, so a tool that reads the
 * raw accessors gets patient coordinates.
 */

/** OpenAnatomy's root matrix (column-major): x = L, y = S (up), z = A; millimetres to metres. */
export const LPS_MM_TO_GLTF: readonly number[] = [0.001, 0, 0, 0, 0, 0, -0.001, 0, 0, 0.001, 0, 0, 0, 0, 0, 1];

export interface GltfModel {
  name: string;
  color: Rgb;
  opacity: number;
  /** LPS millimetres. */
  positions: Float32Array;
  normals: Float32Array;
  indices: Uint32Array;
}

const GENERATOR = 'anatomy-gateway (OpenAnatomy layout)';

function buildDocument(name: string, models: GltfModel[]): Document {
  const doc = new Document();
  doc.getRoot().getAsset().generator = GENERATOR;
  const buffer = doc.createBuffer();
  const root = doc.createNode(`${name}_Models`);
  for (const m of models) {
    const vertexCount = m.positions.length / 3;
    // 16-bit indices halve the index data of small structures; glTF readers all support both.
    const indices = vertexCount <= 0xffff ? Uint16Array.from(m.indices) : m.indices;
    const primitive = doc
      .createPrimitive()
      .setAttribute('POSITION', doc.createAccessor().setType('VEC3').setArray(m.positions).setBuffer(buffer))
      .setAttribute('NORMAL', doc.createAccessor().setType('VEC3').setArray(m.normals).setBuffer(buffer))
      .setIndices(doc.createAccessor().setType('SCALAR').setArray(indices).setBuffer(buffer));
    const material = doc
      .createMaterial(m.name)
      .setBaseColorFactor([m.color[0], m.color[1], m.color[2], m.opacity])
      .setMetallicFactor(0)
      .setRoughnessFactor(0.6);
    if (m.opacity < 1) material.setAlphaMode('BLEND');
    primitive.setMaterial(material);
    const mesh = doc.createMesh(m.name).addPrimitive(primitive);
    root.addChild(doc.createNode(m.name).setMesh(mesh));
  }
  doc.createScene(name).addChild(root);
  return doc;
}

type JsonNode = { name?: string; matrix?: number[]; rotation?: unknown; scale?: unknown; translation?: unknown };

/** gltf-transform stores nodes as TRS; OpenAnatomy files carry the root as a `matrix`, so we write it so. */
function useRootMatrix(json: { nodes?: JsonNode[] }, rootName: string): void {
  for (const node of json.nodes ?? []) {
    if (node.name !== rootName) continue;
    delete node.rotation;
    delete node.scale;
    delete node.translation;
    node.matrix = [...LPS_MM_TO_GLTF];
  }
}

/** Base64 text is gathered into a buffer of this size, reused for the whole file, and written in one call. */
const TEXT_BUFFER = 1 << 20;

async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const { bytesWritten } = await file.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}

/**
 * Writes `parts` to `path` through a temporary name in the same folder and renames it into place,
 * so readers never see half a file. String parts must be ASCII (base64): other text goes in as
 * bytes.
 */
export async function writeFileAtomic(path: string, parts: Iterable<Uint8Array | string>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = await open(tmp, 'wx');
  try {
    const text = Buffer.allocUnsafe(TEXT_BUFFER);
    let used = 0;
    const writeText = async (): Promise<void> => {
      await writeAll(file, text.subarray(0, used));
      used = 0;
    };
    for (const part of parts) {
      if (typeof part !== 'string') {
        await writeText();
        await writeAll(file, part);
      } else if (part.length > text.length) {
        await writeText();
        await writeAll(file, Buffer.from(part, 'latin1'));
      } else {
        if (used + part.length > text.length) await writeText();
        used += text.write(part, used, 'latin1');
      }
    }
    await writeText();
    await file.close();
    await rename(tmp, path);
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

/** `bin` as base64 text, a piece at a time (whole groups of 3 bytes, so the pieces join up). */
function* base64Pieces(bin: Uint8Array): Generator<string> {
  // 48 KB of input -> 64 KB strings, which V8 allocates in its young generation and reuses; one
  // 45 MB string would be new memory, faulted in page by page.
  const step = 3 << 14;
  const bytes = Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let at = 0; at < bytes.length; at += step) yield bytes.toString('base64', at, Math.min(bytes.length, at + step));
}

/** The .gltf as parts to write: the JSON, with the buffer's base64 data URI spliced in as it is encoded. */
function gltfParts(json: GLTF.IGLTF, bin: Uint8Array): Iterable<Uint8Array | string> {
  const buffers = json.buffers ?? [];
  if (buffers.length === 0) return [Buffer.from(JSON.stringify(json), 'utf8')];
  if (buffers.length !== 1) throw new Error(`expected one glTF buffer, got ${buffers.length}`);
  const marker = '\u0000DATA-URI\u0000';
  const text = JSON.stringify({ ...json, buffers: [{ uri: marker, ...buffers[0] }] });
  const quotedMarker = JSON.stringify(marker);
  const at = text.indexOf(quotedMarker);
  if (at < 0 || text.indexOf(quotedMarker, at + 1) >= 0) throw new Error('glTF data URI marker not found exactly once');
  const head = Buffer.from(`${text.slice(0, at)}"data:application/octet-stream;base64,`, 'utf8');
  const tail = Buffer.from(`"${text.slice(at + quotedMarker.length)}`, 'utf8');
  return (function* (): Generator<Uint8Array | string> {
    yield head;
    yield* base64Pieces(bin);
    yield tail;
  })();
}

/**
 * GLB container (glTF 2.0 spec §4.4) as parts to write: 12-byte header, JSON chunk padded with
 * spaces, BIN chunk padded with zeros, the binary buffer itself passed through uncopied.
 */
function glbParts(json: GLTF.IGLTF, bin: Uint8Array): Uint8Array[] {
  const jsonBytes = Buffer.from(JSON.stringify(json), 'utf8');
  const jsonPadded = (jsonBytes.length + 3) & ~3;
  const binPadded = (bin.length + 3) & ~3;
  const total = 12 + 8 + jsonPadded + (bin.length > 0 ? 8 + binPadded : 0);
  const head = Buffer.alloc(20 + jsonPadded + (bin.length > 0 ? 8 : 0), 0x20);
  head.writeUInt32LE(0x46546c67, 0); // 'glTF'
  head.writeUInt32LE(2, 4);
  head.writeUInt32LE(total, 8);
  head.writeUInt32LE(jsonPadded, 12);
  head.writeUInt32LE(0x4e4f534a, 16); // 'JSON'
  jsonBytes.copy(head, 20);
  if (bin.length === 0) return [head];
  head.writeUInt32LE(binPadded, 20 + jsonPadded);
  head.writeUInt32LE(0x004e4942, 24 + jsonPadded); // 'BIN\0'
  return [head, bin, new Uint8Array(binPadded - bin.length)];
}

/**
 * Writes `<name>.gltf` (buffer embedded as a base64 data URI) and `<name>.glb` from one
 * serialisation: both carry the same JSON and the same binary buffer, differing only in the
 * buffer's `uri`. Both are streamed from the one buffer gltf-transform makes. Building them whole
 * in memory first (a GLB copy of that buffer, a 45 MB base64 string and its bytes) touched about
 * 40,000 new pages for the benchmark CT, and on a virtual machine, where a page fault costs about
 * 10 us, that was most of the write step.
 */
export async function writeGltfFiles(
  name: string,
  models: GltfModel[],
  paths: { gltf: string; glb: string },
): Promise<void> {
  const doc = buildDocument(name, models);
  // One buffer view per attribute, as OpenAnatomy's exporter writes them (and no interleaving copy).
  const io = new NodeIO().setVertexLayout(VertexLayout.SEPARATE);
  const { json, resources } = await io.writeJSON(doc, { format: Format.GLB });
  useRootMatrix(json, `${name}_Models`);
  const bin = Object.values(resources)[0] ?? new Uint8Array(0);
  const gltf = gltfParts(json, bin);
  await allWritten([writeFileAtomic(paths.gltf, gltf), writeFileAtomic(paths.glb, glbParts(json, bin))]);
}

/**
 * Waits for every write, then throws the first failure: unlike Promise.all, a caller that fails
 * never leaves a file still being written behind it.
 */
export async function allWritten(writes: Array<Promise<unknown>>): Promise<void> {
  for (const outcome of await Promise.allSettled(writes)) if (outcome.status === 'rejected') throw outcome.reason;
}

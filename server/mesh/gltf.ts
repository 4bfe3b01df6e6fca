import type { Rgb } from '../volume/volume.ts';

/**
 * glTF 2.0 in SlicerOpenAnatomy's layout: one scene whose single root node `<name>_Models` carries
 * the LPS-millimetre -> glTF-metre matrix, one child node per structure with a mesh of the same
 * name, one material per mesh (baseColorFactor = segment colour and opacity; BLEND below 1).
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

export interface GltfFiles {
  /** Self-contained .gltf (buffer embedded as a base64 data URI). */
  gltf: Uint8Array;
  glb: Uint8Array;
}

const GENERATOR = 'anatomy-gateway (OpenAnatomy layout)';

const FLOAT = 5126;
const UNSIGNED_SHORT = 5123;
const UNSIGNED_INT = 5125;
const ARRAY_BUFFER = 34962;
const ELEMENT_ARRAY_BUFFER = 34963;
const TRIANGLES = 4;

interface Layout {
  json: Record<string, unknown>;
  /** Each array's bytes and where they go in the binary buffer. */
  parts: Array<{ bytes: Uint8Array; offset: number }>;
  binLength: number;
}

function bytesOf(a: Float32Array | Uint32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The glTF JSON and where each array goes in the one binary buffer. Written by hand rather than
 * through gltf-transform: its writer interleaves positions and normals into a new buffer and copies
 * the buffer again per output format; here every array is copied once, straight into the GLB, and
 * the .gltf's base64 is made from the GLB's BIN chunk: for meshes of the benchmark's size (1.4 M
 * triangles in three models) 0.60 s -> 0.15 s of CPU, and RSS grew by 120 MB instead of 283 MB. Positions, normals and indices are separate tightly packed
 * bufferViews, which every glTF reader accepts.
 */
function layout(name: string, models: GltfModel[]): Layout {
  const accessors: unknown[] = [];
  const bufferViews: unknown[] = [];
  const materials: unknown[] = [];
  const meshes: unknown[] = [];
  const nodes: Array<Record<string, unknown>> = [{ name: `${name}_Models`, children: models.map((_, i) => i + 1), matrix: [...LPS_MM_TO_GLTF] }];
  const parts: Layout['parts'] = [];
  let offset = 0;
  const view = (bytes: Uint8Array, target: number): number => {
    parts.push({ bytes, offset });
    bufferViews.push({ buffer: 0, byteOffset: offset, byteLength: bytes.byteLength, target });
    offset += (bytes.byteLength + 3) & ~3;
    return bufferViews.length - 1;
  };
  for (const m of models) {
    const vertexCount = m.positions.length / 3;
    const min = [Infinity, Infinity, Infinity];
    const max = [-Infinity, -Infinity, -Infinity];
    const p = m.positions;
    for (let i = 0; i < p.length; i += 3) {
      for (let k = 0; k < 3; k++) {
        const v = p[i + k];
        if (v < min[k]) min[k] = v;
        if (v > max[k]) max[k] = v;
      }
    }
    // 16-bit indices halve the index data of small structures; glTF readers all support both.
    const indices = vertexCount <= 0xffff ? Uint16Array.from(m.indices) : m.indices;
    const position = accessors.push({ bufferView: view(bytesOf(m.positions), ARRAY_BUFFER), componentType: FLOAT, count: vertexCount, type: 'VEC3', ...(vertexCount > 0 ? { min, max } : {}) }) - 1;
    const normal = accessors.push({ bufferView: view(bytesOf(m.normals), ARRAY_BUFFER), componentType: FLOAT, count: vertexCount, type: 'VEC3' }) - 1;
    const index = accessors.push({ bufferView: view(bytesOf(indices), ELEMENT_ARRAY_BUFFER), componentType: indices instanceof Uint16Array ? UNSIGNED_SHORT : UNSIGNED_INT, count: indices.length, type: 'SCALAR' }) - 1;
    const material = materials.push({
      pbrMetallicRoughness: { baseColorFactor: [m.color[0], m.color[1], m.color[2], m.opacity], metallicFactor: 0, roughnessFactor: 0.6 },
      ...(m.opacity < 1 ? { alphaMode: 'BLEND' } : {}),
    }) - 1;
    const mesh = meshes.push({ name: m.name, primitives: [{ attributes: { POSITION: position, NORMAL: normal }, indices: index, material, mode: TRIANGLES }] }) - 1;
    nodes.push({ name: m.name, mesh });
  }
  const json: Record<string, unknown> = {
    asset: { generator: GENERATOR, version: '2.0' },
    scene: 0,
    scenes: [{ name, nodes: [0] }],
    nodes,
    meshes,
    materials,
    accessors,
    bufferViews,
    buffers: [{ byteLength: offset }],
  };
  return { json, parts, binLength: offset };
}

export async function buildGltf(name: string, models: GltfModel[]): Promise<GltfFiles> {
  const { json, parts, binLength } = layout(name, models);
  // GLB (glTF 2.0 spec section 4.4): 12-byte header, JSON chunk padded with spaces, BIN chunk
  // padded with zeros; the arrays are copied straight into the BIN chunk.
  const jsonBytes = new TextEncoder().encode(JSON.stringify(json));
  const jsonPadded = (jsonBytes.length + 3) & ~3;
  const total = 12 + 8 + jsonPadded + (binLength > 0 ? 8 + binLength : 0);
  const glb = new Uint8Array(total);
  const view = new DataView(glb.buffer);
  view.setUint32(0, 0x46546c67, true); // 'glTF'
  view.setUint32(4, 2, true);
  view.setUint32(8, total, true);
  view.setUint32(12, jsonPadded, true);
  view.setUint32(16, 0x4e4f534a, true); // 'JSON'
  glb.set(jsonBytes, 20);
  glb.fill(0x20, 20 + jsonBytes.length, 20 + jsonPadded);
  const binAt = 20 + jsonPadded + 8;
  if (binLength > 0) {
    view.setUint32(binAt - 8, binLength, true);
    view.setUint32(binAt - 4, 0x004e4942, true); // 'BIN\0'
    for (const part of parts) glb.set(part.bytes, binAt + part.offset);
  }

  // Self-contained .gltf: the same JSON with the buffer as a base64 data URI, written into one
  // output buffer around the base64 text.
  const base64 = Buffer.from(glb.buffer, binAt, binLength).toString('base64');
  const marker = '@@BUFFER@@';
  (json.buffers as Array<Record<string, unknown>>)[0].uri = marker;
  const text = JSON.stringify(json);
  // `buffers` is the last key, so its marker is the last one even if a structure's name held the same text.
  const cut = text.lastIndexOf(`"${marker}"`);
  const head = `${text.slice(0, cut)}"data:application/octet-stream;base64,`;
  const tail = `"${text.slice(cut + marker.length + 2)}`;
  const gltf = Buffer.allocUnsafe(Buffer.byteLength(head) + base64.length + Buffer.byteLength(tail));
  let at = gltf.write(head, 0, 'utf8');
  at += gltf.write(base64, at, 'latin1');
  gltf.write(tail, at, 'utf8');
  return { gltf, glb };
}

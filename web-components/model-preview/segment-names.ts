/** Material names and segment names differ in case and separators ("liver" vs "Liver_1"). */
export function normaliseName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/** A segment's colour as sRGB 0-255: its "#rrggbb", else its [r, g, b] in 0-1. */
export function segmentRgb(segment: { colorHex?: unknown; color?: unknown }): [number, number, number] | undefined {
  if (typeof segment.colorHex === 'string' && /^#[0-9a-f]{6}$/i.test(segment.colorHex)) {
    const n = Number.parseInt(segment.colorHex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const c = segment.color;
  if (Array.isArray(c) && c.length >= 3 && c.every((v) => typeof v === 'number')) {
    const [r, g, b] = (c as number[]).map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    return [r, g, b];
  }
  return undefined;
}

interface GltfJson {
  nodes?: Array<{ name?: string; mesh?: number }>;
  meshes?: Array<{ name?: string; primitives?: Array<{ material?: number }> }>;
  materials?: Array<{ name?: string }>;
}

/**
 * A structure name per glTF material index: the node's name, else its mesh's, else the material's.
 * OpenAnatomy files name nodes and meshes after the structure; materials are often unnamed.
 */
export function structureNamesByMaterial(json: GltfJson): Map<number, string> {
  const names = new Map<number, string>();
  for (const node of json.nodes ?? []) {
    if (node.mesh === undefined) continue;
    const mesh = json.meshes?.[node.mesh];
    const name = node.name || mesh?.name;
    if (!name) continue;
    for (const primitive of mesh?.primitives ?? []) {
      if (primitive.material !== undefined && !names.has(primitive.material)) names.set(primitive.material, name);
    }
  }
  (json.materials ?? []).forEach((m, i) => {
    if (!names.has(i) && m.name) names.set(i, m.name);
  });
  return names;
}

const GLB_MAGIC = 0x46546c67;
const JSON_CHUNK = 0x4e4f534a;

/**
 * The JSON chunk's length once `head` holds the GLB header (20 bytes); undefined until then;
 * null when the bytes are not a GLB.
 */
export function glbJsonLength(head: Uint8Array): number | null | undefined {
  if (head.length < 20) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) !== GLB_MAGIC || view.getUint32(16, true) !== JSON_CHUNK) return null;
  return view.getUint32(12, true);
}

/**
 * Reads only the JSON chunk of a GLB at `url` and stops the download there: the node and mesh
 * names model-viewer does not expose, without fetching the geometry twice.
 */
export async function fetchGlbJson(url: string, signal?: AbortSignal): Promise<GltfJson | null> {
  const response = await fetch(url, { signal, credentials: 'same-origin' });
  const reader = response.body?.getReader();
  if (!response.ok || !reader) return null;
  let bytes = new Uint8Array(0);
  try {
    for (;;) {
      const length = glbJsonLength(bytes);
      if (length === null) return null;
      if (length !== undefined && bytes.length >= 20 + length) {
        return JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + length))) as GltfJson;
      }
      const { done, value } = await reader.read();
      if (done) return null;
      const joined = new Uint8Array(bytes.length + value.length);
      joined.set(bytes);
      joined.set(value, bytes.length);
      bytes = joined;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

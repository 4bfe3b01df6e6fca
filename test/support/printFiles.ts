import { readFile } from 'node:fs/promises';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { STLLoader } from 'three/examples/jsm/loaders/STLLoader.js';
import yauzl from 'yauzl';
import { weldedManifoldReport, manifoldReport, type ManifoldReport } from '../../server/mesh/manifold.ts';
import { signedVolume } from '../../server/mesh/meshOps.ts';

/**
 * Reads our 3MF and STL files back with independent parsers (fast-xml-parser for the 3MF's XML,
 * three.js's STLLoader for STL), for tests and the quality benchmark.
 */

export async function unzip(path: string): Promise<Map<string, Buffer>> {
  const bytes = await readFile(path);
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(bytes, { lazyEntries: true, validateEntrySizes: true }, (err, zip) => {
      if (err) return reject(err);
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

export interface ThreeMfObject {
  id: string;
  name: string;
  /** The displaycolor of its base material. */
  color: string;
  vertices: number;
  triangles: number;
  /** By vertex index, as 3MF consumers read it. */
  manifold: ManifoldReport;
  /** Enclosed by the part, from the coordinates as written. */
  volumeMl: number;
}

export interface ThreeMf {
  unit: string;
  metadata: Record<string, string>;
  objects: ThreeMfObject[];
  /** Object ids the build places. */
  build: string[];
  contentTypes: string;
  relationships: string;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export async function read3mf(path: string): Promise<ThreeMf> {
  const parts = await unzip(path);
  const text = (name: string): string => {
    const part = parts.get(name);
    if (!part) throw new Error(`${path}: no ${name}`);
    return part.toString('utf8');
  };
  const modelText = text('3D/3dmodel.model');
  const valid = XMLValidator.validate(modelText);
  if (valid !== true) throw new Error(`${path}: model XML is not well-formed: ${JSON.stringify(valid)}`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', parseAttributeValue: false });
  type Attrs = Record<string, string>;
  const doc = parser.parse(modelText) as {
    model: Attrs & {
      metadata?: Array<Attrs & { '#text': string }> | (Attrs & { '#text': string });
      resources: {
        basematerials: { base: Attrs | Attrs[] };
        object: Array<Attrs & { mesh: { vertices: { vertex: Attrs[] }; triangles: { triangle: Attrs[] } } }>;
      };
      build: { item: Attrs | Attrs[] };
    };
  };
  const model = doc.model;
  const bases = asArray(model.resources.basematerials.base);
  const metadata = Object.fromEntries(asArray(model.metadata).map((m) => [m.name, String(m['#text'])]));
  const objects = asArray(model.resources.object).map((o) => {
    const vertices = asArray(o.mesh.vertices.vertex);
    const triangles = asArray(o.mesh.triangles.triangle);
    const indices = new Uint32Array(triangles.length * 3);
    triangles.forEach((t, i) => {
      indices[3 * i] = Number(t.v1);
      indices[3 * i + 1] = Number(t.v2);
      indices[3 * i + 2] = Number(t.v3);
    });
    const positions = new Float32Array(vertices.length * 3);
    vertices.forEach((v, i) => {
      if (![v.x, v.y, v.z].every((c) => Number.isFinite(Number(c)))) throw new Error(`${path}: bad vertex`);
      positions.set([Number(v.x), Number(v.y), Number(v.z)], i * 3);
    });
    return {
      id: o.id,
      name: o.name,
      color: bases[Number(o.pindex)]?.displaycolor ?? '',
      vertices: vertices.length,
      triangles: triangles.length,
      manifold: manifoldReport(indices, vertices.length),
      volumeMl: signedVolume({ positions, indices }) / 1000,
    };
  });
  return {
    unit: model.unit,
    metadata,
    objects,
    build: asArray(model.build.item).map((i) => i.objectid),
    contentTypes: text('[Content_Types].xml'),
    relationships: text('_rels/.rels'),
  };
}

export interface StlFile {
  name: string;
  header: string;
  triangles: number;
  /** Vertices welded by exact position, as slicers read STL. */
  manifold: ManifoldReport;
  volumeMl: number;
}

export async function readStlZip(path: string): Promise<StlFile[]> {
  const files: StlFile[] = [];
  for (const [name, bytes] of await unzip(path)) {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const geometry = new STLLoader().parse(buffer);
    const positions = geometry.getAttribute('position').array as Float32Array;
    const triangles = positions.length / 9;
    if (bytes.length !== 84 + 50 * triangles) throw new Error(`${name}: not a binary STL of ${triangles} triangles`);
    const corners = Uint32Array.from({ length: triangles * 3 }, (_, i) => i);
    files.push({
      name,
      header: bytes.subarray(0, 80).toString('latin1').trim(),
      triangles,
      manifold: weldedManifoldReport(positions, corners),
      volumeMl: signedVolume({ positions, indices: corners }) / 1000,
    });
  }
  return files;
}

import type { SurfaceMesh } from './surfaceNets.ts';

/**
 * Decimation can pinch a thin part of a closed surface so that one edge lies in four triangles:
 * two sheets meeting along it. Around each end of the edge the other triangles still join the four
 * in two pairs, one pair per sheet. The edge is split here instead of decimating the whole mesh
 * again: the second sheet gets its own copies of the edge's two vertices, and the two sheets' ends
 * move a hundredth of the edge's length apart, each into the wedge its two triangles fold around,
 * so the sheets no longer touch.
 *
 * `indices` may use only part of `positions` (a decimation's output still numbers the vertices of
 * its input). Returns the mesh with the copies appended to its positions, or undefined where a place
 * is anything but such an edge, or its split would flip a triangle: the caller then decimates again.
 */
export function splitPinchedEdges(
  positions: Float32Array,
  indices: Uint32Array,
  places: readonly number[],
): SurfaceMesh | undefined {
  const vertexCount = positions.length / 3;
  const place = new Uint8Array(vertexCount);
  for (const v of places) place[v] = 1;
  // The triangles (offsets into indices) at each place.
  const around = new Map<number, number[]>();
  for (const v of places) around.set(v, []);
  for (let t = 0; t < indices.length; t += 3)
    for (let k = 0; k < 3; k++) if (place[indices[t + k]]) around.get(indices[t + k])!.push(t);

  const edges: Array<{ a: number; b: number; sheets: number[][] }> = [];
  const used = new Set<number>();
  for (const a of places) {
    if (used.has(a)) continue;
    for (const [b, triangles] of trianglesByNeighbour(indices, a, around.get(a)!)) {
      if (triangles.length === 2) continue;
      if (triangles.length !== 4 || !place[b] || used.has(a) || used.has(b)) return undefined;
      const sheetsAtA = sheetsAt(indices, a, around.get(a)!, triangles);
      const sheetsAtB = sheetsAt(indices, b, around.get(b)!, triangles);
      if (!sheetsAtA || !sheetsAtB || !samePairs(sheetsAtA, sheetsAtB, triangles)) return undefined;
      edges.push({ a, b, sheets: [...sheetsAtA, ...sheetsAtB] });
      used.add(a).add(b);
    }
  }
  if (edges.length === 0 || places.some((v) => !used.has(v))) return undefined;

  const out = indices.slice();
  const moved = new Float32Array(positions.length + edges.length * 6);
  moved.set(positions);
  let next = vertexCount;
  for (const { a, b, sheets } of edges) {
    const apart = apartDirection(positions, indices, a, b, sheets[0], sheets[1]);
    if (!apart) return undefined;
    const step = 0.01 * length(sub(at(positions, b), at(positions, a)));
    // sheets: a's two, then b's two, the first of each holding the same two of the four triangles.
    for (const [v, second] of [
      [a, sheets[1]],
      [b, sheets[3]],
    ] as const) {
      const copy = next++;
      for (const t of second) for (let k = 0; k < 3; k++) if (out[t + k] === v) out[t + k] = copy;
      for (let k = 0; k < 3; k++) {
        moved[v * 3 + k] = positions[v * 3 + k] + step * apart[k];
        moved[copy * 3 + k] = positions[v * 3 + k] - step * apart[k];
      }
    }
  }
  for (const v of places) {
    for (const t of around.get(v)!) {
      if (dot(normal(positions, indices, t), normal(moved, out, t)) <= 0) return undefined;
    }
  }
  return { positions: moved, indices: out };
}

/** The triangles at `v` grouped by the other end of each of their edges at `v`. */
function trianglesByNeighbour(indices: Uint32Array, v: number, triangles: number[]): Map<number, number[]> {
  const byNeighbour = new Map<number, number[]>();
  for (const t of triangles) {
    for (let k = 0; k < 3; k++) {
      if (indices[t + k] !== v) continue;
      for (const w of [indices[t + ((k + 1) % 3)], indices[t + ((k + 2) % 3)]]) {
        const list = byNeighbour.get(w);
        if (list) list.push(t);
        else byNeighbour.set(w, [t]);
      }
    }
  }
  return byNeighbour;
}

/**
 * The triangles at `v` in two sheets, each reached from two of the pinched edge's four triangles
 * across edges at `v` that lie in exactly two triangles; the sheet of `pinched[0]` first.
 */
function sheetsAt(indices: Uint32Array, v: number, triangles: number[], pinched: number[]): number[][] | undefined {
  const byNeighbour = trianglesByNeighbour(indices, v, triangles);
  const sheets: number[][] = [];
  const sheetOf = new Map<number, number>();
  for (const start of pinched) {
    if (sheetOf.has(start)) continue;
    const sheet = [start];
    sheetOf.set(start, sheets.length);
    for (let i = 0; i < sheet.length; i++) {
      const t = sheet[i];
      for (let k = 0; k < 3; k++) {
        const across = byNeighbour.get(indices[t + k]);
        if (indices[t + k] === v || across?.length !== 2) continue;
        const other = across[0] === t ? across[1] : across[0];
        if (sheetOf.has(other)) continue;
        sheetOf.set(other, sheets.length);
        sheet.push(other);
      }
    }
    sheets.push(sheet);
  }
  const counts = sheets.map((s) => pinched.filter((t) => sheetOf.get(t) === sheets.indexOf(s)).length);
  return sheets.length === 2 && counts[0] === 2 && counts[1] === 2 ? sheets : undefined;
}

/** Whether both ends' sheets pair the four triangles alike (each sheet list starts from pinched[0]'s). */
function samePairs(atA: number[][], atB: number[][], pinched: number[]): boolean {
  return pinched.every((t) => atA[0].includes(t) === atB[0].includes(t));
}

type Vec = [number, number, number];

const at = (p: Float32Array, v: number): Vec => [p[v * 3], p[v * 3 + 1], p[v * 3 + 2]];
const sub = (u: Vec, v: Vec): Vec => [u[0] - v[0], u[1] - v[1], u[2] - v[2]];
const dot = (u: Vec, v: Vec): number => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
const length = (u: Vec): number => Math.sqrt(dot(u, u));
const cross = (u: Vec, v: Vec): Vec => [
  u[1] * v[2] - u[2] * v[1],
  u[2] * v[0] - u[0] * v[2],
  u[0] * v[1] - u[1] * v[0],
];

function normal(p: Float32Array, indices: Uint32Array, t: number): Vec {
  const o = at(p, indices[t]);
  return cross(sub(at(p, indices[t + 1]), o), sub(at(p, indices[t + 2]), o));
}

/**
 * A unit direction square to edge a-b that leads from the second sheet's triangles on the edge
 * towards the first's: each sheet's two triangles on the edge, one running a to b and one b to a,
 * fold around a wedge; the direction runs from the other wedge's middle to this one's.
 */
function apartDirection(
  p: Float32Array,
  indices: Uint32Array,
  a: number,
  b: number,
  first: number[],
  second: number[],
): Vec | undefined {
  const axis = sub(at(p, b), at(p, a));
  const axisLength = length(axis);
  if (axisLength === 0) return undefined;
  const middle = (sheet: number[]): Vec | undefined => {
    const sum: Vec = [0, 0, 0];
    let forward = 0;
    let backward = 0;
    for (const t of sheet) {
      const k = [0, 1, 2].find((i) => indices[t + i] === a);
      if (k === undefined) continue;
      const after = indices[t + ((k + 1) % 3)];
      const before = indices[t + ((k + 2) % 3)];
      if (after !== b && before !== b) continue;
      if (after === b) forward++;
      else backward++;
      const r = sub(at(p, after === b ? before : after), at(p, a));
      const along = dot(r, axis) / (axisLength * axisLength);
      const spoke: Vec = [r[0] - along * axis[0], r[1] - along * axis[1], r[2] - along * axis[2]];
      const l = length(spoke);
      if (l === 0) return undefined;
      for (let i = 0; i < 3; i++) sum[i] += spoke[i] / l;
    }
    return forward === 1 && backward === 1 ? sum : undefined;
  };
  const m1 = middle(first);
  const m2 = middle(second);
  if (!m1 || !m2) return undefined;
  const d = sub(m1, m2);
  const l = length(d);
  return l > 1e-6 ? [d[0] / l, d[1] / l, d[2] / l] : undefined;
}

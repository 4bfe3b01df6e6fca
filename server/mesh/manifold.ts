/**
 * Whether an indexed triangle mesh is what a 3D printer's slicer takes without repair: closed and
 * 2-manifold with one orientation. Edges are keyed by vertex index, so a mesh read back from a file
 * must have its vertices welded by position first (weldByPosition).
 */

export interface ManifoldReport {
  /** Undirected edges in other than exactly two triangles (1: a hole's rim, 3 or more: a fin or pinch). */
  nonManifoldEdges: number;
  /** Directed edges that occur more than once (two neighbours wound against each other). */
  repeatedDirectedEdges: number;
  /** Vertices whose triangles do not form one fan closed around them (two sheets meeting at a point). */
  nonManifoldVertices: number;
  /** Triangles using one vertex twice. */
  degenerateTriangles: number;
}

/** Sorted copy of edge keys `a * n + b` (exact in a double for n up to 2^26). */
function sortedKeys(indices: ArrayLike<number>, n: number, directed: boolean): Float64Array {
  const keys = new Float64Array(indices.length);
  for (let t = 0; t < indices.length; t += 3) {
    for (let e = 0; e < 3; e++) {
      const a = indices[t + e];
      const b = indices[t + (e === 2 ? 0 : e + 1)];
      keys[t + e] = directed || a < b ? a * n + b : b * n + a;
    }
  }
  return keys.sort();
}

export function manifoldReport(indices: ArrayLike<number>, vertexCount: number): ManifoldReport {
  return inspect(indices, vertexCount, undefined);
}

/**
 * The vertices where a mesh is not a closed oriented 2-manifold, found from the vertex fans alone
 * (empty for a printable mesh). A fan that closes once around its vertex, each neighbour met once
 * on each side, means every edge at that vertex lies in exactly two triangles with opposite
 * directions, so the fans say all the edge checks would; they cost one pass and no sorting.
 */
export function nonManifoldPlaces(indices: ArrayLike<number>, vertexCount: number): number[] {
  const places: number[] = [];
  checkFans(indices, vertexCount, places);
  return places;
}

function inspect(indices: ArrayLike<number>, vertexCount: number, places: number[] | undefined): ManifoldReport {
  const n = vertexCount;
  const mark = (key: number): void => {
    if (!places) return;
    const a = Math.floor(key / n);
    places.push(a, key - a * n);
  };
  let nonManifoldEdges = 0;
  const undirected = sortedKeys(indices, n, false);
  for (let i = 0; i < undirected.length;) {
    let j = i + 1;
    while (j < undirected.length && undirected[j] === undirected[i]) j++;
    if (j - i !== 2) {
      nonManifoldEdges++;
      mark(undirected[i]);
    }
    i = j;
  }
  let repeatedDirectedEdges = 0;
  const directed = sortedKeys(indices, n, true);
  for (let i = 1; i < directed.length; i++) {
    if (directed[i] === directed[i - 1] && (i === 1 || directed[i - 1] !== directed[i - 2])) {
      repeatedDirectedEdges++;
      mark(directed[i]);
    }
  }

  const { nonManifoldVertices, degenerateTriangles } = checkFans(indices, n, places);
  return { nonManifoldEdges, repeatedDirectedEdges, nonManifoldVertices, degenerateTriangles };
}

/** Vertex indices welded by exact position: the index of each vertex's first twin. */
export function weldByPosition(positions: ArrayLike<number>): { ids: Uint32Array; count: number } {
  const seen = new Map<string, number>();
  const ids = new Uint32Array(positions.length / 3);
  for (let v = 0; v < ids.length; v++) {
    const key = `${positions[3 * v]},${positions[3 * v + 1]},${positions[3 * v + 2]}`;
    let id = seen.get(key);
    if (id === undefined) seen.set(key, (id = seen.size));
    ids[v] = id;
  }
  return { ids, count: seen.size };
}

/** manifoldReport of a mesh whose vertices are first welded by exact position. */
export function weldedManifoldReport(positions: ArrayLike<number>, indices: ArrayLike<number>): ManifoldReport {
  const { ids, count } = weldByPosition(positions);
  const welded = new Uint32Array(indices.length);
  for (let i = 0; i < indices.length; i++) welded[i] = ids[indices[i]];
  return manifoldReport(welded, count);
}

/** True when the report has nothing a slicer would repair. */
export function isPrintable(r: ManifoldReport): boolean {
  return r.nonManifoldEdges + r.repeatedDirectedEdges + r.nonManifoldVertices + r.degenerateTriangles === 0;
}

/** Buffers of the fan check, kept for the next mesh: it runs after every decimation in the mesh threads. */
let fanFirst = new Uint32Array(0);
let linkFrom = new Uint32Array(0);
let linkTo = new Uint32Array(0);

/** Vertices whose fan does not close once around them, and triangles using a vertex twice. */
function checkFans(
  indices: ArrayLike<number>,
  n: number,
  places: number[] | undefined,
): { nonManifoldVertices: number; degenerateTriangles: number } {
  // The link of each vertex: for triangle (a, b, c), a sees the edge b -> c, b sees c -> a, c sees a -> b.
  // A manifold vertex's link edges chain into one cycle through all of them. Each vertex's link edges
  // are listed together (read from the triangles once, not looked up again per step of the walk);
  // after the fill, vertex v's are at [first[v - 1], first[v]).
  if (fanFirst.length < n + 1) fanFirst = new Uint32Array(n + 1);
  if (linkFrom.length < indices.length) {
    linkFrom = new Uint32Array(indices.length);
    linkTo = new Uint32Array(indices.length);
  }
  const first = fanFirst;
  const from = linkFrom;
  const to = linkTo;
  first.fill(0, 0, n + 1);
  let degenerateTriangles = 0;
  for (let i = 0; i < indices.length; i++) first[indices[i] + 1]++;
  for (let v = 0; v < n; v++) first[v + 1] += first[v];
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t];
    const b = indices[t + 1];
    const c = indices[t + 2];
    if (a === b || b === c || c === a) {
      degenerateTriangles++;
      places?.push(a, b, c);
    }
    let k = first[a]++;
    from[k] = b;
    to[k] = c;
    k = first[b]++;
    from[k] = c;
    to[k] = a;
    k = first[c]++;
    from[k] = a;
    to[k] = b;
  }
  let nonManifoldVertices = 0;
  for (let v = 0; v < n; v++) {
    const start = v === 0 ? 0 : first[v - 1];
    const end = first[v];
    if (end === start) continue;
    // Walk the chain from the first link edge; it must come back after visiting every edge once.
    const begin = from[start];
    let at = begin;
    let steps = 0;
    let ok = true;
    do {
      let next = -1;
      for (let k = start; k < end; k++) {
        if (from[k] !== at) continue;
        if (next >= 0) ok = false;
        next = to[k];
      }
      if (next < 0) ok = false;
      at = next;
      steps++;
    } while (ok && at !== begin && steps <= end - start);
    if (!ok || steps !== end - start) {
      nonManifoldVertices++;
      places?.push(v);
    }
  }
  return { nonManifoldVertices, degenerateTriangles };
}

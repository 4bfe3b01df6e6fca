/**
 * A thin part that decimation flattens completely can leave two triangles on the same three
 * vertices wound against each other: a flap that encloses nothing, whose edges then lie in four
 * triangles. Dropping both removes no volume and leaves the sheets around it as they were.
 */
export function dropBackToBackPairs(
  indices: Uint32Array,
  vertexCount: number,
  places: readonly number[],
): Uint32Array | undefined {
  const place = new Uint8Array(vertexCount);
  for (const v of places) place[v] = 1;
  const byCorners = new Map<string, number>();
  const drop = new Set<number>();
  for (let t = 0; t < indices.length; t += 3) {
    const [a, b, c] = [indices[t], indices[t + 1], indices[t + 2]];
    if (!place[a] && !place[b] && !place[c]) continue;
    const key = [a, b, c].sort((u, v) => u - v).join(',');
    const other = byCorners.get(key);
    if (other !== undefined && woundAgainst(indices, t, other)) {
      drop.add(t).add(other);
      byCorners.delete(key);
    } else {
      byCorners.set(key, t);
    }
  }
  if (drop.size === 0) return undefined;
  const out = new Uint32Array(indices.length - drop.size * 3);
  for (let t = 0, o = 0; t < indices.length; t += 3) {
    if (drop.has(t)) continue;
    out[o++] = indices[t];
    out[o++] = indices[t + 1];
    out[o++] = indices[t + 2];
  }
  return out;
}

/** Whether triangle `u` runs through its corners the other way round from triangle `t`. */
function woundAgainst(indices: Uint32Array, t: number, u: number): boolean {
  for (let k = 0; k < 3; k++)
    if (indices[u + k] === indices[t] && indices[u + ((k + 1) % 3)] === indices[t + 2]) return true;
  return false;
}

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

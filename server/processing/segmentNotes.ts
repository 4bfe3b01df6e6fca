import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../mesh/gltf.ts';
import type { Segment, SegmentAlgorithm } from '../volume/volume.ts';

/**
 * An engine's word on each segment (a quality note, the algorithm that made it) carried into the
 * result: the segment statistics recorded for the API and UI, and `<name>_segments.json` beside the
 * models. The mesher writes that file from geometry alone, so the notes are merged into it here,
 * keeping every field it wrote.
 */

export type Annotated<T> = T & { note?: string; algorithm?: SegmentAlgorithm };

/** `stats` with the note and algorithm of the engine segment of the same label, where it has them. */
export function annotateSegments<T extends { label: number }>(stats: T[], engine: Segment[]): Array<Annotated<T>> {
  const byLabel = new Map(engine.map((s) => [s.label, s]));
  return stats.map((s) => {
    const from = byLabel.get(s.label);
    return {
      ...s,
      ...(from?.note ? { note: from.note } : {}),
      ...(from?.algorithm ? { algorithm: { ...from.algorithm } } : {}),
    };
  });
}

/** Adds each segment's note and algorithm to the `segments` of a `_segments.json`, by label; no-op without any. */
export async function writeSegmentNotes(
  jsonPath: string,
  annotated: Array<Annotated<{ label: number }>>,
): Promise<void> {
  if (!annotated.some((s) => s.note || s.algorithm)) return;
  const doc = JSON.parse(await readFile(jsonPath, 'utf8')) as { segments?: Array<Record<string, unknown>> };
  const byLabel = new Map(annotated.map((s) => [s.label, s]));
  for (const s of doc.segments ?? []) {
    const a = byLabel.get(s.label as number);
    if (a?.note) s.note = a.note;
    if (a?.algorithm) s.algorithm = a.algorithm;
  }
  await writeFileAtomic(jsonPath, [Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8')]);
}

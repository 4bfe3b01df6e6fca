import type { Queryable } from '../db/database.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { seriesWithStoredInstances } from '../dicomIndex/storedSeries.ts';

/**
 * "Open in viewer" links: the viewer's study route for a DICOM series' study. Results get one only
 * while the series' images are still stored (without KEEP_INPUTS they go after processing, and a SEG
 * alone has nothing to be drawn over).
 */

export function viewerUrlForStudy(studyInstanceUid: string): string {
  return `/viewer/viewer?StudyInstanceUIDs=${encodeURIComponent(studyInstanceUid)}`;
}

export interface SeriesSource {
  kind?: unknown;
  studyInstanceUid?: unknown;
  seriesInstanceUid?: unknown;
}

function dicomSeries(source: unknown): { study: string; series: string } | undefined {
  const s = source as SeriesSource | null | undefined;
  if (s?.kind !== 'dicom-series' || typeof s.studyInstanceUid !== 'string' || typeof s.seriesInstanceUid !== 'string')
    return undefined;
  if (!isUsableUid(s.studyInstanceUid) || !isUsableUid(s.seriesInstanceUid)) return undefined;
  return { study: s.studyInstanceUid, series: s.seriesInstanceUid };
}

/** The viewer link of a job's DICOM input (the queue links every processed series). */
export function viewerUrlForInput(input: unknown): string | null {
  const s = dicomSeries(input);
  return s ? viewerUrlForStudy(s.study) : null;
}

/** Viewer links by result id, for the results whose source series still has stored images. */
export async function viewerUrlsForResults(
  db: Queryable,
  results: Array<{ id: string; source: unknown }>,
): Promise<Map<string, string>> {
  const wanted = results.flatMap((r) => {
    const s = dicomSeries(r.source);
    return s ? [{ id: r.id, ...s }] : [];
  });
  const out = new Map<string, string>();
  if (wanted.length === 0) return out;
  const stored = await seriesWithStoredInstances(
    db,
    wanted.map((w) => w.series),
  );
  for (const w of wanted) if (stored.has(w.series)) out.set(w.id, viewerUrlForStudy(w.study));
  return out;
}

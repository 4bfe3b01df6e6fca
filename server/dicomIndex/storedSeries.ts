import type { Queryable } from '../db/database.ts';

/** Which of these series still have instances stored. */
export async function seriesWithStoredInstances(q: Queryable, seriesUids: readonly string[]): Promise<Set<string>> {
  if (seriesUids.length === 0) return new Set();
  const { rows } = await q.query<{ series_uid: string }>(
    'SELECT DISTINCT series_uid FROM dicom_instances WHERE series_uid = ANY($1::text[])',
    [[...seriesUids]],
  );
  return new Set(rows.map((r) => r.series_uid));
}

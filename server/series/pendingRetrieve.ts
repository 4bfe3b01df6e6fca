import type { Queryable } from '../db/database.ts';

/**
 * Whether a series may be grouped yet. A `pacs-retrieve` brings a study or series in one instance at a time, and a
 * PACS can pause longer than SERIES_STABLE_SECONDS between two of them (a slow link, a node fetching from near-line
 * storage), so the quiet-period rule alone would process a partial series. While a retrieve that covers the series
 * is queued or running (a retry waiting out its backoff included), the series-stable job waits instead.
 */

/** The id of a queued or running retrieve of this series (or of its whole study), if any. */
export async function unfinishedRetrieveOf(db: Queryable, seriesInstanceUid: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT j.id FROM jobs j
       JOIN dicom_series s ON s.series_uid = $1
      WHERE j.kind = 'pacs-retrieve' AND j.state IN ('queued', 'running')
        AND j.payload->>'studyInstanceUid' = s.study_uid
        AND (j.payload->>'seriesInstanceUid' IS NULL OR j.payload->>'seriesInstanceUid' = s.series_uid)
      ORDER BY j.created_at
      LIMIT 1`,
    [seriesInstanceUid],
  );
  return rows[0]?.id;
}

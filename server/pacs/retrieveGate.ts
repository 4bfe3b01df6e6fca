import type { Queryable } from '../db/database.ts';

/**
 * Whether a series may be grouped yet. A `pacs-retrieve` brings a study or series in one instance at a
 * time, and a PACS can pause longer than SERIES_STABLE_SECONDS between two of them (a slow link, a
 * node fetching from near-line storage), so the quiet-period rule alone would process a partial series.
 * While a retrieve that covers the series is queued or running (a retry waiting out its backoff
 * included), the series-stable job checks here and waits instead of creating the process job.
 */

export const PACS_RETRIEVE = 'pacs-retrieve';

/** The id of a queued or running retrieve of this series (or of its whole study), if any. */
export async function unfinishedRetrieveOf(db: Queryable, seriesInstanceUid: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT j.id FROM jobs j
       JOIN dicom_series s ON s.series_uid = $2
      WHERE j.kind = $1 AND j.state IN ('queued', 'running')
        AND j.payload->>'studyInstanceUid' = s.study_uid
        AND (j.payload->>'seriesInstanceUid' IS NULL OR j.payload->>'seriesInstanceUid' = s.series_uid)
      ORDER BY j.created_at
      LIMIT 1`,
    [PACS_RETRIEVE, seriesInstanceUid],
  );
  return rows[0]?.id;
}

/**
 * After a retrieve has failed for good, the series it was bringing in that are still waiting to be
 * grouped are set aside (processed_revision caught up, with the reason), so the quiet-period rule
 * does not process what is only part of a series. The instances stay stored; a later retrieve or
 * any new instance of the series bumps its revision and groups it again. Returns how many were set aside.
 */
export async function setAsidePartialSeries(
  db: Queryable,
  target: { studyInstanceUid: string; seriesInstanceUid?: string },
  reason: string,
): Promise<number> {
  const res = await db.query(
    `UPDATE dicom_series SET processed_revision = revision, skipped_reason = $3
      WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND revision <> processed_revision`,
    [target.studyInstanceUid, target.seriesInstanceUid ?? null, reason.slice(0, 500)],
  );
  return res.rowCount ?? 0;
}

import type { Queryable } from '../db/database.ts';

/**
 * Inputs nobody will process any more: DICOM series quiet for longer than the retention whose last process job
 * failed or was cancelled, that never got one (skipped, or the job is gone), or that have instances newer than their
 * processed revision; never a series with a queued or running job. Series whose job succeeded lost their inputs then
 * (unless KEEP_INPUTS asked to keep them).
 */
export async function staleSeriesInputs(
  db: Queryable,
  days: number,
  limit: number,
): Promise<Array<{ seriesUid: string; paths: string[] }>> {
  const { rows } = await db.query<{ series_uid: string; paths: string[] }>(
    `SELECT s.series_uid, array_agg(i.path ORDER BY i.path) AS paths
       FROM dicom_series s
       JOIN dicom_instances i ON i.series_uid = s.series_uid
       LEFT JOIN jobs j ON j.id = s.last_process_job_id
      WHERE s.last_instance_at < now() - make_interval(days => $1::int)
        AND (j.id IS NULL OR j.state IN ('failed', 'cancelled')
             OR (j.state = 'succeeded' AND s.processed_revision < s.revision))
        AND NOT EXISTS (
          SELECT 1 FROM jobs a
           WHERE a.state IN ('queued', 'running') AND a.payload -> 'input' ->> 'seriesInstanceUid' = s.series_uid)
      GROUP BY s.series_uid
      ORDER BY min(s.last_instance_at)
      LIMIT $2`,
    [days, limit],
  );
  return rows.map((r) => ({ seriesUid: r.series_uid, paths: r.paths }));
}

/** Uploaded volume files of process jobs that failed or were cancelled longer ago than the retention. */
export async function staleVolumeInputs(db: Queryable, days: number, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ file: string }>(
    `SELECT payload -> 'input' ->> 'file' AS file FROM jobs
      WHERE kind = 'process' AND state IN ('failed', 'cancelled')
        AND payload -> 'input' ->> 'kind' = 'volume-file'
        AND COALESCE(finished_at, updated_at) < now() - make_interval(days => $1::int)
        AND NOT (payload -> 'input' ? 'removedByRetention')
      ORDER BY COALESCE(finished_at, updated_at) LIMIT $2`,
    [days, limit],
  );
  return rows.map((r) => r.file);
}

/** Marks the jobs of a removed volume file, so the sweep does not find it again. */
export async function markVolumeInputRemoved(db: Queryable, file: string): Promise<void> {
  await db.query(
    `UPDATE jobs SET payload = jsonb_set(payload, '{input,removedByRetention}', 'true'::jsonb)
      WHERE kind = 'process' AND payload -> 'input' ->> 'file' = $1`,
    [file],
  );
}

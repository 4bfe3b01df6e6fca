import type { Queryable } from '../db/database.ts';

/**
 * `series_digests` (migration 0007): what each series' last process job was made from, so a series sent again
 * unchanged makes no second job while that job's result stands (server/series/processJobForSeries.ts).
 */

/** The series' revision and the keys of its image instances, read without a lock (the digest is made outside it). */
export async function seriesImagesForDigest(
  q: Queryable,
  seriesUid: string,
): Promise<{ revision: number; paths: string[] } | undefined> {
  const { rows } = await q.query<{ revision: number; paths: string[] | null }>(
    `SELECT s.revision,
            (SELECT array_agg(i.path ORDER BY i.path) FROM dicom_instances AS i
              WHERE i.series_uid = s.series_uid AND i.volume_image) AS paths
       FROM dicom_series AS s WHERE s.series_uid = $1`,
    [seriesUid],
  );
  const r = rows[0];
  return r ? { revision: r.revision, paths: r.paths ?? [] } : undefined;
}

/**
 * The job last made from exactly these images, if it still stands: queued or running, or succeeded with its result
 * still kept. A failed or cancelled job, or a result deleted or expired, stands for nothing.
 */
export async function standingJobWithDigest(
  q: Queryable,
  seriesUid: string,
  digest: string,
): Promise<{ jobId: string; state: 'queued' | 'running' | 'succeeded' } | undefined> {
  const { rows } = await q.query<{ job_id: string; state: 'queued' | 'running' | 'succeeded' }>(
    `SELECT d.job_id, j.state FROM series_digests AS d
       JOIN jobs AS j ON j.id = d.job_id
       LEFT JOIN results AS r ON r.job_id = j.id
      WHERE d.series_uid = $1 AND d.digest = $2
        AND (j.state IN ('queued', 'running')
             OR (j.state = 'succeeded' AND r.id IS NOT NULL AND (r.expires_at IS NULL OR r.expires_at > now())))`,
    [seriesUid, digest],
  );
  const r = rows[0];
  return r ? { jobId: r.job_id, state: r.state } : undefined;
}

/** Records what the series' new job is made from. */
export async function recordSeriesDigest(
  q: Queryable,
  seriesUid: string,
  digest: string,
  jobId: string,
): Promise<void> {
  await q.query(
    `INSERT INTO series_digests (series_uid, digest, job_id) VALUES ($1, $2, $3)
     ON CONFLICT (series_uid) DO UPDATE SET digest = EXCLUDED.digest, job_id = EXCLUDED.job_id, created_at = now()`,
    [seriesUid, digest, jobId],
  );
}

/** The transaction's own time, as the cut-off for rows it has seen (microseconds kept). */
export async function transactionTime(q: Queryable): Promise<string> {
  return (await q.query<{ now: string }>('SELECT now()::text AS now')).rows[0].now;
}

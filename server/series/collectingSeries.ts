import type { Queryable } from '../db/database.ts';

/**
 * Series still being received: their quiet-period timer is queued and they hold instances no job has covered yet.
 * The live queue shows them at once ("receiving · 20 images · starts in 8 s"), so a sender is never left looking
 * at an empty queue for the quiet period.
 */
export interface CollectingSeries {
  seriesInstanceUid: string;
  modality: string | null;
  seriesDescription: string | null;
  seriesNumber: number | null;
  /** Instances stored in the series so far. */
  images: number;
  /** When the quiet period ends if nothing more arrives (ISO 8601). */
  startsAt: string;
  lastInstanceAt: string;
}

/** The series being received, newest first (at most `limit`). */
export async function collectingSeries(db: Queryable, limit = 100): Promise<CollectingSeries[]> {
  const { rows } = await db.query<{
    series_uid: string;
    modality: string | null;
    series_description: string | null;
    series_number: number | null;
    images: number | string;
    run_after: Date | string;
    last_instance_at: Date | string;
  }>(
    `SELECT s.series_uid, s.modality, s.series_description, s.series_number, j.run_after, s.last_instance_at,
            (SELECT count(*) FROM dicom_instances i WHERE i.series_uid = s.series_uid) AS images
       FROM jobs j
       JOIN dicom_series s ON s.series_uid = j.payload->>'seriesInstanceUid'
      WHERE j.kind = 'series-stable' AND j.state = 'queued' AND s.revision > s.processed_revision
      ORDER BY s.last_instance_at DESC
      LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    seriesInstanceUid: r.series_uid,
    modality: r.modality,
    seriesDescription: r.series_description,
    seriesNumber: r.series_number === null ? null : Number(r.series_number),
    images: Number(r.images),
    startsAt: new Date(r.run_after).toISOString(),
    lastInstanceAt: new Date(r.last_instance_at).toISOString(),
  }));
}

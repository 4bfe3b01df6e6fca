import type { Queryable } from '../db/database.ts';

/**
 * A series' processing state in `dicom_series` (migration 0002): `revision` counts arrivals, `processed_revision`
 * is the revision the last job (or decision not to make one) covered.
 */

export interface SeriesForGrouping {
  seriesUid: string;
  studyUid: string;
  modality: string | null;
  seriesDescription: string | null;
  seriesNumber: number | null;
  revision: number;
  processedRevision: number;
}

/** The series row, locked for the caller's transaction, so an instance arriving meanwhile waits for it. */
export async function lockSeriesForGrouping(tx: Queryable, seriesUid: string): Promise<SeriesForGrouping | undefined> {
  const { rows } = await tx.query<{
    series_uid: string;
    study_uid: string;
    modality: string | null;
    series_description: string | null;
    series_number: number | null;
    revision: number;
    processed_revision: number;
  }>(
    `SELECT series_uid, study_uid, modality, series_description, series_number, revision, processed_revision
       FROM dicom_series WHERE series_uid = $1 FOR UPDATE`,
    [seriesUid],
  );
  const s = rows[0];
  if (!s) return undefined;
  return {
    seriesUid: s.series_uid,
    studyUid: s.study_uid,
    modality: s.modality,
    seriesDescription: s.series_description,
    seriesNumber: s.series_number,
    revision: s.revision,
    processedRevision: s.processed_revision,
  };
}

/** The series' image instances a volume can be built from, in instance order. */
export async function volumeImagesOfSeries(
  q: Queryable,
  seriesUid: string,
): Promise<Array<{ path: string; imageType: string[] }>> {
  const { rows } = await q.query<{ path: string; image_type: string[] }>(
    `SELECT path, image_type FROM dicom_instances WHERE series_uid = $1 AND volume_image
      ORDER BY instance_number NULLS LAST, sop_instance_uid`,
    [seriesUid],
  );
  return rows.map((r) => ({ path: r.path, imageType: r.image_type }));
}

/** Records that the series' current revision makes no job, and why. */
export async function markSeriesSkipped(q: Queryable, seriesUid: string, reason: string): Promise<void> {
  await q.query('UPDATE dicom_series SET processed_revision = revision, skipped_reason = $2 WHERE series_uid = $1', [
    seriesUid,
    reason,
  ]);
}

/** Records the job made for the series' current revision. */
export async function markSeriesProcessed(q: Queryable, seriesUid: string, jobId: string): Promise<void> {
  await q.query(
    'UPDATE dicom_series SET processed_revision = revision, last_process_job_id = $2, skipped_reason = NULL WHERE series_uid = $1',
    [seriesUid, jobId],
  );
}

/**
 * Sets aside the series of a study (or one series) still waiting to be grouped, with the reason: used when a PACS
 * retrieve that was bringing them in failed for good, so the quiet-period rule does not process part of a series.
 * The instances stay; any new instance bumps the revision and groups the series again. Returns how many.
 */
export async function setAsidePartialSeries(
  q: Queryable,
  target: { studyInstanceUid: string; seriesInstanceUid?: string },
  reason: string,
): Promise<number> {
  const res = await q.query(
    `UPDATE dicom_series SET processed_revision = revision, skipped_reason = $3
      WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND revision <> processed_revision`,
    [target.studyInstanceUid, target.seriesInstanceUid ?? null, reason.slice(0, 500)],
  );
  return res.rowCount ?? 0;
}

/** The series of a study (or the one series) that have instances stored. */
export async function storedSeriesOf(
  q: Queryable,
  target: { studyInstanceUid: string; seriesInstanceUid?: string },
): Promise<string[]> {
  const { rows } = await q.query<{ series_uid: string }>(
    `SELECT DISTINCT series_uid FROM dicom_instances WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2)`,
    [target.studyInstanceUid, target.seriesInstanceUid ?? null],
  );
  return rows.map((r) => r.series_uid);
}

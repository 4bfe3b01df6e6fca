import type { Database } from '../db/database.ts';

/**
 * Deletes the index rows of the instances a `process` job read (by path), then the series and study rows (patient
 * data) left without instances, in one transaction. Rows received after the job was created belong to a later job,
 * even at the same path. Returns the paths whose rows went.
 */
export function deleteJobInputRows(db: Database, jobId: string, paths: readonly string[]): Promise<string[]> {
  return deleteInputRows(db, paths, '(SELECT created_at FROM jobs WHERE id = $2)', jobId);
}

/**
 * The same for instances a series was sent again with while its earlier result stands (no job reads them): the rows
 * received by `cutoff` (a timestamp), so anything newer stays for the next grouping.
 */
export function deleteInputRowsReceivedBy(db: Database, paths: readonly string[], cutoff: string): Promise<string[]> {
  return deleteInputRows(db, paths, '$2::timestamptz', cutoff);
}

async function deleteInputRows(
  db: Database,
  paths: readonly string[],
  cutoffSql: string,
  cutoffParam: string,
): Promise<string[]> {
  return await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ path: string; series_uid: string; study_uid: string }>(
      `DELETE FROM dicom_instances
        WHERE path = ANY($1::text[])
          AND received_at <= ${cutoffSql}
       RETURNING path, series_uid, study_uid`,
      [[...paths], cutoffParam],
    );
    const seriesUids = [...new Set(rows.map((r) => r.series_uid))].sort();
    const studyUids = [...new Set(rows.map((r) => r.study_uid))].sort();
    // Lock before looking, as grouping does: an instance being indexed meanwhile either commits first
    // (and its series stays) or waits and then recreates the rows.
    for (const uid of seriesUids) {
      const locked = await tx.query('SELECT 1 FROM dicom_series WHERE series_uid = $1 FOR UPDATE', [uid]);
      if (locked.rowCount === 0) continue;
      await tx.query(
        'DELETE FROM dicom_series s WHERE s.series_uid = $1 AND NOT EXISTS (SELECT 1 FROM dicom_instances i WHERE i.series_uid = $1)',
        [uid],
      );
    }
    for (const uid of studyUids) {
      const locked = await tx.query('SELECT 1 FROM dicom_studies WHERE study_uid = $1 FOR UPDATE', [uid]);
      if (locked.rowCount === 0) continue;
      await tx.query(
        `DELETE FROM dicom_studies WHERE study_uid = $1
            AND NOT EXISTS (SELECT 1 FROM dicom_series WHERE study_uid = $1)
            AND NOT EXISTS (SELECT 1 FROM dicom_instances WHERE study_uid = $1)`,
        [uid],
      );
    }
    return rows.map((r) => r.path);
  });
}

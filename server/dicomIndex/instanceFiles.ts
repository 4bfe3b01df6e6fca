import type { Queryable } from '../db/database.ts';

export interface InstanceFile {
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  instanceNumber: number | null;
  /** Storage key. */
  path: string;
  sizeBytes: number;
}

/** The stored instances of a study, series or one instance, in series and instance order. */
export async function findInstanceFiles(
  q: Queryable,
  target: { study: string; series?: string; instance?: string },
): Promise<InstanceFile[]> {
  const { rows } = await q.query<{
    study_uid: string;
    series_uid: string;
    sop_instance_uid: string;
    sop_class_uid: string;
    transfer_syntax_uid: string;
    instance_number: number | null;
    path: string;
    size_bytes: string;
  }>(
    `SELECT study_uid, series_uid, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, path, size_bytes
       FROM dicom_instances
      WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND ($3::text IS NULL OR sop_instance_uid = $3)
      ORDER BY series_uid, instance_number NULLS LAST, sop_instance_uid`,
    [target.study, target.series ?? null, target.instance ?? null],
  );
  return rows.map((r) => ({
    studyUid: r.study_uid,
    seriesUid: r.series_uid,
    sopUid: r.sop_instance_uid,
    sopClassUid: r.sop_class_uid,
    transferSyntaxUid: r.transfer_syntax_uid,
    instanceNumber: r.instance_number,
    path: r.path,
    sizeBytes: Number(r.size_bytes),
  }));
}

/** Whether the index holds an instance (a file without a row is a leftover of a store cut short, not an instance). */
export async function isInstanceIndexed(q: Queryable, sopInstanceUid: string): Promise<boolean> {
  const { rows } = await q.query('SELECT 1 FROM dicom_instances WHERE sop_instance_uid = $1', [sopInstanceUid]);
  return rows.length > 0;
}

/** Which of these storage keys have an index row. */
export async function indexedPaths(q: Queryable, paths: readonly string[]): Promise<Set<string>> {
  const { rows } = await q.query<{ path: string }>('SELECT path FROM dicom_instances WHERE path = ANY($1::text[])', [
    [...paths],
  ]);
  return new Set(rows.map((r) => r.path));
}

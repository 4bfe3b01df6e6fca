import type { Queryable } from '../db/database.ts';

export interface InstanceFile {
  /** Storage key. */
  path: string;
  transferSyntaxUid: string;
  sizeBytes: number;
}

/** The stored instances of a study, series or one instance, in series and instance order. */
export async function findInstanceFiles(
  q: Queryable,
  target: { study: string; series?: string; instance?: string },
): Promise<InstanceFile[]> {
  const { rows } = await q.query<{ path: string; transfer_syntax_uid: string; size_bytes: string }>(
    `SELECT path, transfer_syntax_uid, size_bytes FROM dicom_instances
      WHERE study_uid = $1 AND ($2::text IS NULL OR series_uid = $2) AND ($3::text IS NULL OR sop_instance_uid = $3)
      ORDER BY series_uid, instance_number NULLS LAST, sop_instance_uid`,
    [target.study, target.series ?? null, target.instance ?? null],
  );
  return rows.map((r) => ({ path: r.path, transferSyntaxUid: r.transfer_syntax_uid, sizeBytes: Number(r.size_bytes) }));
}

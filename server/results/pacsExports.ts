import type { Queryable } from '../db/database.ts';
import type { Queue } from '../jobs/queue.ts';

/**
 * The `pacs_exports` table (migration 0005): per result and node, the state of sending the result's
 * SEG there. The job queue holds the work (`pacs-export` jobs); this row is what the results API shows.
 */

export type ExportState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface PacsExport {
  node: string;
  state: ExportState;
  detail: string | null;
  jobId: string | null;
  segSopInstanceUid: string | null;
  requestedBy: string;
  updatedAt: string;
}

interface Row {
  result_id: string;
  node: string;
  state: ExportState;
  detail: string | null;
  job_id: string | null;
  seg_sop_instance_uid: string | null;
  requested_by: string;
  updated_at: Date | string;
}

function toExport(r: Row): PacsExport {
  return {
    node: r.node,
    state: r.state,
    detail: r.detail,
    jobId: r.job_id,
    segSopInstanceUid: r.seg_sop_instance_uid,
    requestedBy: r.requested_by,
    updatedAt: (r.updated_at instanceof Date ? r.updated_at : new Date(r.updated_at)).toISOString(),
  };
}

export async function exportsForResults(db: Queryable, resultIds?: string[]): Promise<Map<string, PacsExport[]>> {
  const { rows } = await db.query<Row>(
    `SELECT * FROM pacs_exports WHERE ($1::uuid[] IS NULL OR result_id = ANY($1::uuid[])) ORDER BY node`,
    [resultIds ?? null],
  );
  const map = new Map<string, PacsExport[]>();
  for (const r of rows) {
    const list = map.get(r.result_id) ?? [];
    list.push(toExport(r));
    map.set(r.result_id, list);
  }
  return map;
}

export async function setExportState(
  db: Queryable,
  resultId: string,
  node: string,
  state: ExportState,
  detail: string | null,
  segSopInstanceUid?: string,
): Promise<void> {
  await db.query(
    `UPDATE pacs_exports SET state = $3, detail = $4, seg_sop_instance_uid = COALESCE($5, seg_sop_instance_uid), updated_at = now()
      WHERE result_id = $1 AND node = $2`,
    [resultId, node, state, detail, segSopInstanceUid ?? null],
  );
}

/**
 * Queues sending a result's SEG to a node, unless a send there is already queued or running. Returns
 * the job id (the existing one when a send was already under way).
 */
export async function queueExport(
  db: Queryable,
  queue: Queue,
  resultId: string,
  node: string,
  requestedBy: 'rule' | 'user',
): Promise<string> {
  const existing = await db.query<{ job_id: string | null; state: ExportState }>(
    'SELECT job_id, state FROM pacs_exports WHERE result_id = $1 AND node = $2',
    [resultId, node],
  );
  const row = existing.rows[0];
  if (row && row.job_id && (row.state === 'queued' || row.state === 'running')) return row.job_id;
  const job = await queue.add(
    'pacs-export',
    { resultId, node },
    { maxAttempts: 5, key: `pacs-export:${resultId}:${node}` },
    db,
  );
  await db.query(
    `INSERT INTO pacs_exports (result_id, node, job_id, state, detail, requested_by)
     VALUES ($1, $2, $3, 'queued', NULL, $4)
     ON CONFLICT (result_id, node) DO UPDATE SET job_id = EXCLUDED.job_id, state = 'queued', detail = NULL,
       requested_by = EXCLUDED.requested_by, updated_at = now()`,
    [resultId, node, job.id, requestedBy],
  );
  return job.id;
}

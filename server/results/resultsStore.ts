import { createHash } from 'node:crypto';
import type { Subject } from './subjects.ts';
import type { Queryable } from '../db/database.ts';

/** Write side of the `results` table (migration 0003); readResults.ts is the read side. */

export interface NewResult {
  id: string;
  jobId: string;
  name: string;
  engine: string;
  source: Record<string, unknown>;
  segments: unknown[];
  files: Array<{ name: string; size: number }>;
  /** 0 means the result never expires. */
  retentionDays: number;
  /** Whose scan it is, from the index (server/results/subjects.ts); null for an uploaded volume file. */
  subject?: Subject | null;
}

/**
 * The result id of a job: a UUID derived from the job id, so a job that runs again (after a crash,
 * or a retry) writes to the same folder and row instead of leaving a second, orphaned result.
 */
export function resultIdForJob(jobId: string): string {
  const h = createHash('sha256').update(`anatomy-gateway result of job ${jobId}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80; // version 8 (custom, RFC 9562)
  h[8] = (h[8] & 0x3f) | 0x80; // variant 10
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Inserts or replaces the result of a job; returns its id. */
export async function recordResult(db: Queryable, r: NewResult): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO results (id, job_id, name, engine, source, segments, files, created_at, expires_at,
                          patient_name, patient_id, study_date, modality, series_description)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, now(),
             CASE WHEN $8::int > 0 THEN now() + make_interval(days => $8::int) END, $9, $10, $11, $12, $13)
     ON CONFLICT (id) DO UPDATE SET
       job_id = EXCLUDED.job_id, name = EXCLUDED.name, engine = EXCLUDED.engine, source = EXCLUDED.source,
       segments = EXCLUDED.segments, files = EXCLUDED.files, created_at = EXCLUDED.created_at,
       expires_at = EXCLUDED.expires_at, patient_name = EXCLUDED.patient_name, patient_id = EXCLUDED.patient_id,
       study_date = EXCLUDED.study_date, modality = EXCLUDED.modality,
       series_description = EXCLUDED.series_description
     RETURNING id`,
    [
      r.id,
      r.jobId,
      r.name,
      r.engine,
      JSON.stringify(r.source),
      JSON.stringify(r.segments),
      JSON.stringify(r.files),
      r.retentionDays,
      r.subject?.patientName ?? null,
      r.subject?.patientId ?? null,
      r.subject?.studyDate ?? null,
      r.subject?.modality ?? null,
      r.subject?.seriesDescription ?? null,
    ],
  );
  return rows[0].id;
}

/** Results whose retention has passed, oldest first, for the sweeper. */
export async function expiredResultIds(db: Queryable, limit = 100): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM results WHERE expires_at IS NOT NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1',
    [limit],
  );
  return rows.map((r) => r.id);
}

export async function deleteResultRow(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM results WHERE id = $1', [id]);
  return rowCount > 0;
}

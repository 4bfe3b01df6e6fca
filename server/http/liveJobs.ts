import { viewerUrlForStudy } from '../viewer/viewerLinks.ts';
import { isUsableUid } from '../dicom/uid.ts';
import type { Queryable } from '../db/database.ts';
import { displayName, subjectsOfJobs, type Subject } from '../results/subjects.ts';

/**
 * Jobs as the live queue shows them (the same fields as GET /api/jobs). Read here, not from the
 * events, because an event carries only what changed and a new browser needs whole rows.
 */
export interface LiveJob {
  id: string;
  kind: string;
  state: string;
  progress: number;
  status: string | null;
  error: string | null;
  engine: string | null;
  attempts: number;
  maxAttempts: number;
  /** Times a person retried the job after it failed or was cancelled. */
  retries: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  name: string | null;
  seriesDescription: string | null;
  /** "Open in viewer" for a DICOM series whose images are still stored. */
  viewerUrl: string | null;
  /** Patient data from the index (or the job's result): signed-in pages only. */
  subject: Subject | null;
  /** The name the queue and the files page both show (server/results/subjects.ts). */
  displayName: string;
}

/** added: jobs created in the last 24 hours; processing: running; left: queued + running. */
export interface QueueCounts {
  added: number;
  queued: number;
  processing: number;
  left: number;
}

interface JobRow {
  id: string;
  kind: string;
  state: string;
  progress: number;
  status: string | null;
  last_error: string | null;
  engine: string | null;
  attempts: number;
  max_attempts: number;
  retries: number;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
  name: string | null;
  series_description: string | null;
  viewer_study: string | null;
  series_uid: string | null;
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

function toLiveJob(row: JobRow, subject: Subject | null): LiveJob {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    progress: Number(row.progress),
    status: row.status,
    error: row.last_error,
    engine: row.engine,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    retries: Number(row.retries),
    createdAt: iso(row.created_at) ?? '',
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    name: row.name,
    seriesDescription: row.series_description,
    viewerUrl: row.viewer_study && isUsableUid(row.viewer_study) ? viewerUrlForStudy(row.viewer_study) : null,
    subject,
    displayName: displayName(subject, row.series_description ?? row.name),
  };
}

async function toLiveJobs(db: Queryable, rows: JobRow[]): Promise<LiveJob[]> {
  const subjects = await subjectsOfJobs(
    db,
    rows.map((r) => ({ id: r.id, seriesUid: r.series_uid })),
  );
  return rows.map((r) => toLiveJob(r, subjects.get(r.id) ?? null));
}

/**
 * Only `process` jobs are shown: they are the series people sent. Housekeeping kinds (waiting for a
 * series to settle, sweeping old results) are internal and would read as noise in the queue.
 */
export const VISIBLE_KINDS = ['process'];

const SELECT = `SELECT id, kind, state, progress, status, last_error, engine, attempts, max_attempts, retries,
  created_at, started_at, finished_at, payload->>'name' AS name,
  COALESCE(payload->>'seriesDescription', payload->'input'->>'seriesDescription', payload->'input'->>'originalName') AS series_description,
  CASE WHEN payload->'input'->>'kind' = 'dicom-series' AND EXISTS (
    SELECT 1 FROM dicom_instances di WHERE di.series_uid = jobs.payload->'input'->>'seriesInstanceUid'
  ) THEN payload->'input'->>'studyInstanceUid' END AS viewer_study,
  payload->'input'->>'seriesInstanceUid' AS series_uid
  FROM jobs`;

/** The most recent jobs not cleared from the queue, plus every unfinished one however old, newest first. */
export async function recentJobs(db: Queryable, limit = 200): Promise<LiveJob[]> {
  const { rows } = await db.query<JobRow>(
    `${SELECT} WHERE id IN (
       (SELECT id FROM jobs WHERE kind = ANY($2::text[]) AND cleared_at IS NULL ORDER BY created_at DESC LIMIT $1)
       UNION
       (SELECT id FROM jobs WHERE kind = ANY($2::text[]) AND state IN ('queued', 'running')))
     ORDER BY created_at DESC`,
    [limit, VISIBLE_KINDS],
  );
  return toLiveJobs(db, rows);
}

export async function jobsById(db: Queryable, ids: readonly string[]): Promise<LiveJob[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<JobRow>(`${SELECT} WHERE id = ANY($1::uuid[]) AND kind = ANY($2::text[])`, [
    [...ids],
    VISIBLE_KINDS,
  ]);
  return toLiveJobs(db, rows);
}

export async function queueCounts(db: Queryable): Promise<QueueCounts> {
  const { rows } = await db.query<{ added: number | string; queued: number | string; processing: number | string }>(
    `SELECT count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS added,
            count(*) FILTER (WHERE state = 'queued') AS queued,
            count(*) FILTER (WHERE state = 'running') AS processing
       FROM jobs WHERE kind = ANY($1::text[])`,
    [VISIBLE_KINDS],
  );
  const r = rows[0] ?? { added: 0, queued: 0, processing: 0 };
  const queued = Number(r.queued);
  const processing = Number(r.processing);
  return { added: Number(r.added), queued, processing, left: queued + processing };
}

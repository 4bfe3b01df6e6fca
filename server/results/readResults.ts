import type { Queryable } from '../db/database.ts';

/** Read side of the `results` table (migration 0003), for the results API, downloads and exports. */

export interface ResultFile {
  name: string;
  size: number;
}

export interface ResultSegment {
  label: number;
  name: string;
  color?: unknown;
  voxels?: number;
  volumeMl?: number;
  triangles?: number;
  [key: string]: unknown;
}

export interface ResultRecord {
  id: string;
  jobId: string | null;
  name: string;
  engine: string | null;
  source: unknown;
  createdAt: string;
  expiresAt: string | null;
  segments: ResultSegment[];
  files: ResultFile[];
}

interface ResultRow {
  id: string;
  job_id: string | null;
  name: string;
  engine: string | null;
  source: unknown;
  created_at: Date | string;
  expires_at: Date | string | null;
  segments: unknown;
  files: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function iso(value: Date | string | null): string | null {
  if (value === null) return null;
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function jsonArray(value: unknown): unknown[] {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(parsed) ? parsed : [];
}

function toRecord(row: ResultRow): ResultRecord {
  const files = jsonArray(row.files)
    .filter(
      (f): f is { name: string; size?: unknown } =>
        typeof f === 'object' && f !== null && typeof (f as { name?: unknown }).name === 'string',
    )
    .map((f) => ({ name: f.name, size: typeof f.size === 'number' ? f.size : Number(f.size ?? 0) }));
  return {
    id: row.id,
    jobId: row.job_id,
    name: row.name,
    engine: row.engine,
    source: row.source,
    createdAt: iso(row.created_at) ?? '',
    expiresAt: iso(row.expires_at),
    segments: jsonArray(row.segments) as ResultSegment[],
    files,
  };
}

const COLUMNS = 'id, job_id, name, engine, source, created_at, expires_at, segments, files';

export async function listResults(db: Queryable, limit = 500): Promise<ResultRecord[]> {
  const { rows } = await db.query<ResultRow>(`SELECT ${COLUMNS} FROM results ORDER BY created_at DESC LIMIT $1`, [
    limit,
  ]);
  return rows.map(toRecord);
}

export async function getResult(db: Queryable, id: string): Promise<ResultRecord | undefined> {
  if (!UUID.test(id)) return undefined;
  const { rows } = await db.query<ResultRow>(`SELECT ${COLUMNS} FROM results WHERE id = $1`, [id]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export function isExpired(result: ResultRecord, now: number = Date.now()): boolean {
  return result.expiresAt !== null && Date.parse(result.expiresAt) <= now;
}

/** Results made from a study's series that have not expired, oldest first. */
export async function unexpiredResultsOfStudy(db: Queryable, studyUid: string): Promise<ResultRecord[]> {
  const { rows } = await db.query<ResultRow>(
    `SELECT ${COLUMNS} FROM results
      WHERE source->>'studyInstanceUid' = $1 AND (expires_at IS NULL OR expires_at > now())
      ORDER BY created_at`,
    [studyUid],
  );
  return rows.map(toRecord);
}

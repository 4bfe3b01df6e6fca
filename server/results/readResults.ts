import type { Queryable, SqlValue } from '../db/database.ts';
import type { Subject } from './subjects.ts';

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
  /** Patient data (migration 0008): for the signed-in pages only. */
  subject: Subject | null;
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
  patient_name: string | null;
  patient_id: string | null;
  study_date: string | null;
  modality: string | null;
  series_description: string | null;
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
    subject:
      (row.patient_name ?? row.patient_id ?? row.study_date ?? row.modality ?? row.series_description)
        ? {
            patientName: row.patient_name,
            patientId: row.patient_id,
            studyDate: row.study_date,
            modality: row.modality,
            seriesDescription: row.series_description,
          }
        : null,
  };
}

const COLUMNS = `id, job_id, name, engine, source, created_at, expires_at, segments, files,
  patient_name, patient_id, study_date, modality, series_description`;

/** What the files page sorts by, and the column behind each. */
export const RESULT_SORTS = {
  createdAt: 'created_at',
  patientName: 'patient_name',
  patientId: 'patient_id',
  studyDate: 'study_date',
  modality: 'modality',
  seriesDescription: 'series_description',
} as const;
export type ResultSort = keyof typeof RESULT_SORTS;

export interface ResultQuery {
  limit?: number;
  /** Words that must each appear in the patient name or ID, study date, modality, series description or name. */
  search?: string;
  sort?: ResultSort;
  order?: 'asc' | 'desc';
}

/** A search word as a LIKE pattern; a date typed as 2024-03-01 also finds DICOM's 20240301. */
function searchPattern(word: string): string {
  const plain = /^\d{4}-\d{2}(-\d{2})?$/.test(word) ? word.replace(/-/g, '') : word;
  return `%${plain.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function listResults(db: Queryable, query: ResultQuery | number = {}): Promise<ResultRecord[]> {
  const q = typeof query === 'number' ? { limit: query } : query;
  const params: SqlValue[] = [q.limit ?? 500];
  const where: string[] = [];
  for (const word of (q.search ?? '')
    .split(/[\s,^]+/)
    .filter(Boolean)
    .slice(0, 8)) {
    params.push(searchPattern(word));
    where.push(`concat_ws(' ', replace(patient_name, '^', ' '), patient_id, study_date, modality, series_description,
      name, source->>'originalName') ILIKE $${params.length}`);
  }
  const column = RESULT_SORTS[q.sort ?? 'createdAt'];
  const order = q.order ?? (q.sort === undefined || q.sort === 'createdAt' ? 'desc' : 'asc');
  const { rows } = await db.query<ResultRow>(
    `SELECT ${COLUMNS} FROM results ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${column} ${order === 'asc' ? 'ASC' : 'DESC'} NULLS LAST, created_at DESC LIMIT $1`,
    params,
  );
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

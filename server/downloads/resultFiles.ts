import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Queryable } from '../db/database.ts';

/**
 * Read side of the results table for the results API and download links. File names are only
 * ever taken from a result's own file list, never from a request, so a request cannot point
 * outside DATA_DIR/results/<id>/.
 */

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

export function resultFileUrl(resultId: string, name: string): string {
  return `/api/results/${encodeURIComponent(resultId)}/files/${encodeURIComponent(name)}`;
}

/** Parses a result file address (absolute or relative) back into its parts; undefined if it is not one. */
export function parseResultFileUrl(address: string): { resultId: string; name: string } | undefined {
  let path: string;
  try {
    path = new URL(address, 'http://x').pathname;
  } catch {
    return undefined;
  }
  const m = /^\/api\/results\/([^/]+)\/files\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  try {
    return { resultId: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) };
  } catch {
    return undefined;
  }
}

export type FileLookup =
  | { ok: true; path: string; size: number; mtime: Date; result: ResultRecord; name: string }
  | { ok: false; status: 404 | 410; reason: string };

/**
 * Finds a file of a result on disk. The name must be in the result's own list; the path is built
 * from that list entry, so "../" or absolute names in a request go nowhere.
 */
export async function locateResultFile(
  db: Queryable,
  dataDir: string,
  resultId: string,
  name: string,
): Promise<FileLookup> {
  const result = await getResult(db, resultId);
  if (!result) return { ok: false, status: 404, reason: 'There is no such result.' };
  if (isExpired(result))
    return { ok: false, status: 410, reason: 'This result has been removed after its retention period.' };
  const listed = result.files.find((f) => f.name === name);
  if (!listed || basename(listed.name) !== listed.name || listed.name.startsWith('.')) {
    return { ok: false, status: 404, reason: 'This result has no file of that name.' };
  }
  const path = join(dataDir, 'results', result.id, listed.name);
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
    return { ok: true, path, size: info.size, mtime: info.mtime, result, name: listed.name };
  } catch {
    return { ok: false, status: 410, reason: 'This file is no longer on the server.' };
  }
}

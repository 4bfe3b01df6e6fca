import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Queryable } from '../db/database.ts';

/**
 * Download links (QR codes) kept as rows (migration 0011). The link is `/d/<token>`: 32 random base64url characters
 * that say nothing about what they open (no result id, no file name); only the token's SHA-256 is stored. One
 * named SQL operation per function.
 */

export interface LinkFile {
  resultId: string;
  name: string;
  patientData: boolean;
}

export interface DownloadLink {
  id: string;
  owner: string;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokedBy: string | null;
  files: LinkFile[];
}

export type LinkLookup = { ok: true; link: DownloadLink } | { ok: false; status: 403 | 410; reason: string };

const TOKEN_BYTES = 24;

export function newLinkToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

interface Row {
  id: string;
  owner: string;
  created_by: string | null;
  created_at: Date | string;
  expires_at: Date | string;
  revoked_at: Date | string | null;
  revoked_by: string | null;
  files: unknown;
}

const COLUMNS = 'id, owner, created_by, created_at, expires_at, revoked_at, revoked_by, files';

function toLink(r: Row): DownloadLink {
  const iso = (v: Date | string): string => new Date(v).toISOString();
  return {
    id: r.id,
    owner: r.owner,
    createdBy: r.created_by,
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    revokedAt: r.revoked_at === null ? null : iso(r.revoked_at),
    revokedBy: r.revoked_by,
    files: (typeof r.files === 'string' ? JSON.parse(r.files) : r.files) as LinkFile[],
  };
}

export async function insertLink(
  db: Queryable,
  link: { token: string; owner: string; createdBy: string | null; expiresAt: Date; files: LinkFile[] },
): Promise<DownloadLink> {
  const { rows } = await db.query<Row>(
    `INSERT INTO download_links (id, token_hash, owner, created_by, expires_at, files)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING ${COLUMNS}`,
    [randomUUID(), tokenHash(link.token), link.owner, link.createdBy, link.expiresAt, JSON.stringify(link.files)],
  );
  return toLink(rows[0]);
}

/** The link a token opens, or why not: unknown (403), revoked or expired (410). */
export async function linkForToken(db: Queryable, token: string, now = new Date()): Promise<LinkLookup> {
  const forbidden = { ok: false, status: 403, reason: 'This download link is not valid.' } as const;
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return forbidden;
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM download_links WHERE token_hash = $1`, [
    tokenHash(token),
  ]);
  if (rows.length === 0) return forbidden;
  const link = toLink(rows[0]);
  if (link.revokedAt !== null) {
    return { ok: false, status: 410, reason: 'This download link has been withdrawn. Ask for a new QR code.' };
  }
  if (Date.parse(link.expiresAt) <= now.getTime()) {
    return { ok: false, status: 410, reason: 'This download link has expired. Generate a new QR code.' };
  }
  return { ok: true, link };
}

/** Links neither revoked nor expired, newest first; only those of `owner` unless it is undefined (admins). */
export async function listActiveLinks(db: Queryable, owner: string | undefined): Promise<DownloadLink[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${COLUMNS} FROM download_links
      WHERE revoked_at IS NULL AND expires_at > now() AND ($1::text IS NULL OR owner = $1)
      ORDER BY created_at DESC, id LIMIT 1000`,
    [owner ?? null],
  );
  return rows.map(toLink);
}

export async function getLink(db: Queryable, id: string): Promise<DownloadLink | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM download_links WHERE id = $1`, [id]);
  return rows[0] ? toLink(rows[0]) : undefined;
}

/** Revokes a link once; false when it was already revoked (or is gone). */
export async function revokeLink(db: Queryable, id: string, by: string | null): Promise<boolean> {
  const { rows } = await db.query(
    `UPDATE download_links SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
    [id, by],
  );
  return rows.length > 0;
}

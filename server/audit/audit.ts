import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';

/**
 * The audit trail: who read patient data (searched, retrieved, viewed), uploaded, downloaded, deleted, signed in (or
 * failed to), and changed users or tokens, from which address and when; dicomAudit.ts gives each row the shape of a
 * DICOM audit message (PS3.15 A.5). Only identifiers (job/result ids, DICOM UIDs, counts, file
 * names we generated) go in `target` and `details`: never patient names, ids or birth dates.
 */
export const AUDIT_EVENTS = [
  'login',
  'logout',
  'upload',
  'stow',
  'dimse-store',
  'download-file',
  'download-link',
  'download-zip',
  'download-link-file',
  'job-cancel',
  'job-retry',
  'job-clear',
  'result-delete',
  'user-create',
  'user-delete',
  'user-password',
  'user-roles',
  'token-create',
  'token-delete',
  'access-denied',
  /** Reads of patient data (readAudit.ts): searches, retrieves, views. */
  'dicomweb-query',
  'dicomweb-retrieve',
  'dicomweb-access',
  'pacs-query',
  'pacs-retrieve',
  'viewer-open',
  'download-link-revoke',
  'patient-data-read',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export interface AuditEvent {
  event: AuditEventName;
  outcome?: 'success' | 'failure';
  actor?: string | null;
  address?: string | null;
  target?: string | null;
  details?: Record<string, string | number | boolean | null | string[] | undefined>;
}

export interface AuditDeps {
  db: Database;
  logger: Logger;
}

/**
 * Writes one audit row. It never throws: an unrecorded audit row is logged as an error, but must not
 * turn an upload that was stored into a failure the sender would retry (or give up on).
 */
export async function audit(deps: AuditDeps, event: AuditEvent): Promise<void> {
  try {
    await deps.db.query(
      'INSERT INTO audit_log (event, outcome, actor, address, target, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)',
      [
        event.event,
        event.outcome ?? 'success',
        event.actor ?? null,
        event.address ?? null,
        event.target ?? null,
        JSON.stringify(event.details ?? {}),
      ],
    );
  } catch (err) {
    deps.logger.error(
      { err: { message: (err as Error).message }, event: event.event },
      'audit row could not be written',
    );
  }
}

export interface AuditRow {
  id: number;
  at: string;
  event: string;
  outcome: string;
  actor: string | null;
  address: string | null;
  target: string | null;
  details: Record<string, unknown>;
}

/** Newest first; `before` (an id) pages backwards. */
export async function listAudit(
  db: Database,
  options: { limit: number; before?: number; event?: string; actor?: string },
): Promise<AuditRow[]> {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (options.before !== undefined) {
    params.push(options.before);
    where.push(`id < $${params.length}`);
  }
  if (options.event !== undefined) {
    params.push(options.event);
    where.push(`event = $${params.length}`);
  }
  if (options.actor !== undefined) {
    params.push(options.actor);
    where.push(`actor = $${params.length}`);
  }
  params.push(options.limit);
  const { rows } = await db.query<{
    id: number | string;
    at: Date | string;
    event: string;
    outcome: string;
    actor: string | null;
    address: string | null;
    target: string | null;
    details: unknown;
  }>(
    `SELECT id, at, event, outcome, actor, address, target, details FROM audit_log
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    event: r.event,
    outcome: r.outcome,
    actor: r.actor,
    address: r.address,
    target: r.target,
    details: (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as Record<string, unknown>,
  }));
}

/**
 * What kind of result file was fetched (".glb", "_seg.nii.gz", ...), not its name: result names come
 * from series descriptions or uploaded file names, which may hold a patient's name.
 */
export function fileKind(name: string): string {
  const lower = name.toLowerCase();
  for (const suffix of [
    '_seg.nii.gz',
    '_segments.json',
    '_stl.zip',
    '.nii.gz',
    '.gltf',
    '.glb',
    '.3mf',
    '.nrrd',
    '.json',
    '.zip',
  ]) {
    if (lower.endsWith(suffix)) return suffix;
  }
  return '(other)';
}

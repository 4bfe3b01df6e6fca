import { httpError } from '../errors.ts';

/**
 * ingest: put data in (browser upload, STOW-RS) and control the jobs it makes.
 * read: see the queue, results, DICOMweb search/retrieve, make download links, the live event stream.
 * admin: users, tokens, the audit log; implies the other two.
 */
export const ROLES = ['ingest', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function hasRole(roles: readonly Role[], needed: Role): boolean {
  return roles.includes('admin') || roles.includes(needed);
}

/** `{ roles: [...] }` or the shorthand `{ role: "..." }` from a request body; 400 names what is wrong. */
export function rolesFromBody(body: { roles?: unknown; role?: unknown }): Role[] {
  const raw = body.roles ?? (body.role === undefined ? undefined : [body.role]);
  if (!Array.isArray(raw) || raw.length === 0) {
    throw httpError(400, `Give "roles": a list with one or more of ${ROLES.join(', ')}.`);
  }
  for (const r of raw) {
    if (!isRole(r)) throw httpError(400, `"${String(r).slice(0, 40)}" is not a role; use ${ROLES.join(', ')}.`);
  }
  return ROLES.filter((r) => (raw as unknown[]).includes(r));
}

/** Roles as stored (jsonb) back to a clean list; anything unknown is dropped, never granted. */
export function rolesFromDb(value: unknown): Role[] {
  const list = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(list) ? ROLES.filter((r) => list.includes(r)) : [];
}

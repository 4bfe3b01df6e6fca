import type { Queryable } from '../db/database.ts';
import { rolesFromDb, type Role } from './roles.ts';
import { newApiToken, randomSecret, sha256Hex } from './secrets.ts';

/** Rows of users, api_tokens and sessions (migration 0004). Nothing here ever holds a secret in clear. */

export interface UserRecord {
  id: string;
  username: string;
  roles: Role[];
  createdAt: string;
  lastLoginAt: string | null;
}

export interface TokenRecord {
  id: string;
  name: string;
  roles: Role[];
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

interface UserRow {
  id: string;
  username: string;
  roles: unknown;
  created_at: Date | string;
  last_login_at: Date | string | null;
  password_hash?: string;
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

function userOf(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    roles: rolesFromDb(row.roles),
    createdAt: iso(row.created_at) as string,
    lastLoginAt: iso(row.last_login_at),
  };
}

/** 1-64 letters, digits and . _ @ - : readable in the audit log and safe in a Basic header (no colon). */
export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export async function createUser(
  db: Queryable,
  username: string,
  passwordHash: string,
  roles: readonly Role[],
): Promise<UserRecord | undefined> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (username, password_hash, roles) VALUES ($1, $2, $3::jsonb)
     ON CONFLICT ((lower(username))) DO NOTHING
     RETURNING id, username, roles, created_at, last_login_at`,
    [username, passwordHash, JSON.stringify(roles)],
  );
  return rows[0] ? userOf(rows[0]) : undefined;
}

export async function listUsers(db: Queryable): Promise<UserRecord[]> {
  const { rows } = await db.query<UserRow>(
    'SELECT id, username, roles, created_at, last_login_at FROM users ORDER BY lower(username)',
  );
  return rows.map(userOf);
}

export async function countUsers(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  return rows[0].n;
}

export async function findUserByName(
  db: Queryable,
  username: string,
): Promise<(UserRecord & { passwordHash: string }) | undefined> {
  const { rows } = await db.query<UserRow>(
    'SELECT id, username, roles, created_at, last_login_at, password_hash FROM users WHERE lower(username) = lower($1)',
    [username],
  );
  return rows[0] ? { ...userOf(rows[0]), passwordHash: rows[0].password_hash as string } : undefined;
}

export async function findUserById(db: Queryable, id: string): Promise<UserRecord | undefined> {
  const { rows } = await db.query<UserRow>(
    'SELECT id, username, roles, created_at, last_login_at FROM users WHERE id = $1',
    [id],
  );
  return rows[0] ? userOf(rows[0]) : undefined;
}

/** `changed`: a person set a new password (false for a re-hash of the same one at sign-in). */
export async function setPasswordHash(
  db: Queryable,
  id: string,
  passwordHash: string,
  changed = true,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE users SET password_hash = $2, updated_at = now(),
            password_changed_at = CASE WHEN $3::boolean THEN now() ELSE password_changed_at END
      WHERE id = $1`,
    [id, passwordHash, changed],
  );
  return rowCount > 0;
}

/** Whether the account of this name exists with the password it was created with. */
export async function hasInitialPassword(db: Queryable, username: string): Promise<boolean> {
  const { rows } = await db.query<{ initial: boolean }>(
    'SELECT password_changed_at IS NULL AS initial FROM users WHERE lower(username) = lower($1)',
    [username],
  );
  return rows[0]?.initial === true;
}

export async function setUserRoles(
  db: Queryable,
  id: string,
  roles: readonly string[],
): Promise<UserRecord | undefined> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET roles = $2::jsonb, updated_at = now() WHERE id = $1
     RETURNING id, username, roles, created_at, last_login_at`,
    [id, JSON.stringify(roles)],
  );
  return rows[0] ? userOf(rows[0]) : undefined;
}

export async function deleteUser(db: Queryable, id: string): Promise<UserRecord | undefined> {
  const { rows } = await db.query<UserRow>(
    'DELETE FROM users WHERE id = $1 RETURNING id, username, roles, created_at, last_login_at',
    [id],
  );
  return rows[0] ? userOf(rows[0]) : undefined;
}

export async function countAdmins(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM users WHERE roles @> '["admin"]'::jsonb`,
  );
  return rows[0].n;
}

export async function noteLogin(db: Queryable, id: string): Promise<void> {
  await db.query('UPDATE users SET last_login_at = now() WHERE id = $1', [id]);
}

// --- API tokens -------------------------------------------------------------------------------------

interface TokenRow {
  id: string;
  name: string;
  roles: unknown;
  created_by: string | null;
  created_at: Date | string;
  expires_at: Date | string | null;
  last_used_at: Date | string | null;
}

function tokenOf(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    roles: rolesFromDb(row.roles),
    createdBy: row.created_by,
    createdAt: iso(row.created_at) as string,
    expiresAt: iso(row.expires_at),
    lastUsedAt: iso(row.last_used_at),
  };
}

const TOKEN_COLUMNS = 'id, name, roles, created_by, created_at, expires_at, last_used_at';

/** Returns the record and the token itself, which exists only in this return value. */
export async function createToken(
  db: Queryable,
  input: { name: string; roles: readonly Role[]; createdBy: string | null; expiresAt: Date | null },
): Promise<{ token: string; record: TokenRecord }> {
  const token = newApiToken();
  const { rows } = await db.query<TokenRow>(
    `INSERT INTO api_tokens (name, token_hash, roles, created_by, expires_at) VALUES ($1, $2, $3::jsonb, $4, $5)
     RETURNING ${TOKEN_COLUMNS}`,
    [input.name, sha256Hex(token), JSON.stringify(input.roles), input.createdBy, input.expiresAt],
  );
  return { token, record: tokenOf(rows[0]) };
}

export async function listTokens(db: Queryable): Promise<TokenRecord[]> {
  const { rows } = await db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC`);
  return rows.map(tokenOf);
}

export async function deleteToken(db: Queryable, id: string): Promise<TokenRecord | undefined> {
  const { rows } = await db.query<TokenRow>(`DELETE FROM api_tokens WHERE id = $1 RETURNING ${TOKEN_COLUMNS}`, [id]);
  return rows[0] ? tokenOf(rows[0]) : undefined;
}

/** The token's record (expired or not: the caller says which) or undefined when no such token exists. */
export async function findTokenByValue(db: Queryable, token: string): Promise<TokenRecord | undefined> {
  const { rows } = await db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1`, [
    sha256Hex(token),
  ]);
  return rows[0] ? tokenOf(rows[0]) : undefined;
}

export async function touchToken(db: Queryable, id: string): Promise<void> {
  // At most once a minute per token: a PACS storing thousands of instances must not write a row each time.
  await db.query(
    `UPDATE api_tokens SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [id],
  );
}

// --- sessions ---------------------------------------------------------------------------------------

export interface SessionRecord {
  idHash: string;
  csrfToken: string;
  expiresAt: Date;
  user: UserRecord;
}

/** A new session; the returned id goes into the cookie and only its hash into the database. */
export async function createSession(
  db: Queryable,
  userId: string,
  ttlSeconds: number,
  address: string | null,
): Promise<{ id: string; csrfToken: string; expiresAt: Date }> {
  const id = randomSecret(32);
  const csrfToken = randomSecret(32);
  const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
  await db.query(
    'INSERT INTO sessions (id_hash, user_id, csrf_token, address, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [sha256Hex(id), userId, csrfToken, address, expiresAt],
  );
  return { id, csrfToken, expiresAt };
}

export async function findSession(db: Queryable, id: string): Promise<SessionRecord | undefined> {
  const { rows } = await db.query<UserRow & { id_hash: string; csrf_token: string; expires_at: Date | string }>(
    `SELECT s.id_hash, s.csrf_token, s.expires_at, u.id, u.username, u.roles, u.created_at, u.last_login_at
     FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id_hash = $1 AND s.expires_at > now()`,
    [sha256Hex(id)],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { idHash: row.id_hash, csrfToken: row.csrf_token, expiresAt: new Date(row.expires_at), user: userOf(row) };
}

export async function deleteSession(db: Queryable, idHash: string): Promise<void> {
  await db.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
}

/** After a password change or reset: every browser signed in as this user must sign in again. */
export async function deleteUserSessions(db: Queryable, userId: string, exceptIdHash?: string): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2', [
    userId,
    exceptIdHash ?? '',
  ]);
  return rowCount;
}

export async function deleteExpiredSessions(db: Queryable): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM sessions WHERE expires_at <= now()');
  return rowCount;
}

import { hashPassword } from '../../server/auth/passwords.ts';
import type { Role } from '../../server/auth/roles.ts';
import { createToken, createUser } from '../../server/auth/store.ts';
import type { Database } from '../../server/db/database.ts';

/** A user straight in the database (the admin API is tested on its own). */
export async function addUser(db: Database, username: string, password: string, roles: Role[]): Promise<string> {
  const user = await createUser(db, username, await hashPassword(password), roles);
  if (!user) throw new Error(`user ${username} exists`);
  return user.id;
}

export async function addToken(
  db: Database,
  name: string,
  roles: Role[],
  expiresAt: Date | null = null,
): Promise<{ id: string; token: string }> {
  const { token, record } = await createToken(db, { name, roles, createdBy: null, expiresAt });
  return { id: record.id, token };
}

export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
export const basic = (user: string, password: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** Signs in through POST /api/login; returns the Cookie header to send and the CSRF token. */
export async function login(
  base: string,
  username: string,
  password: string,
): Promise<{ cookie: string; csrf: string; setCookies: string[]; response: Response }> {
  const response = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const setCookies = response.headers.getSetCookie();
  const cookie = setCookies.map((c) => c.split(';')[0]).join('; ');
  const body = (await response.json()) as { csrfToken?: string };
  return { cookie, csrf: body.csrfToken ?? '', setCookies, response };
}

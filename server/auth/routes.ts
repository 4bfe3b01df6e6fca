import type { Context, Next } from 'koa';
import { Router } from '@koa/router';
import { koaBody } from 'koa-body';
import { httpError } from '../errors.ts';
import { AUDIT_EVENTS, listAudit } from '../audit/audit.ts';
import { dicomAuditMessage } from '../audit/dicomAudit.ts';
import { auditRequest } from './auditRequest.ts';
import type { AuthDeps } from './deps.ts';
import { safeNextPath } from './accessControl.ts';
import { clearSessionCookies, setSessionCookies } from './cookies.ts';
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from './passwords.ts';
import { principalOf, type Principal } from './principal.ts';
import { rolesFromBody } from './roles.ts';
import { formatWait } from './formatWait.ts';
import { accountPageRoutes } from './accountPageRoutes.ts';
import { randomSecret } from './secrets.ts';
import {
  countAdmins,
  createSession,
  createToken,
  createUser,
  deleteExpiredSessions,
  deleteSession,
  deleteToken,
  deleteUser,
  deleteUserSessions,
  findUserById,
  findUserByName,
  listTokens,
  listUsers,
  noteLogin,
  setPasswordHash,
  USERNAME,
} from './store.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const parseJson = koaBody({
  json: true,
  urlencoded: false,
  text: false,
  multipart: false,
  jsonLimit: '64kb',
  jsonStrict: true,
});

/**
 * JSON only: a cross-site HTML form cannot send application/json, so this also keeps forms on other
 * sites from posting to the sign-in route (login CSRF).
 */
async function json(ctx: Context, next: Next): Promise<void> {
  if (!ctx.is('application/json')) throw httpError(415, 'Send the request as application/json.');
  await parseJson(ctx, next);
}

function bodyOf(ctx: Context): Record<string, unknown> {
  const body = ctx.request.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw httpError(400, 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function idParam(ctx: Context, what: string): string {
  const id = ctx.params.id as string;
  if (!UUID.test(id)) throw httpError(404, `No ${what} with id "${id.slice(0, 60)}".`);
  return id;
}

/** A password chosen for someone (new user without one, reset): 128 bits, typeable. */
function generatedPassword(): string {
  return randomSecret(16);
}

function meJson(principal: Principal | undefined, auth: boolean) {
  if (!principal) return { auth, kind: 'none' as const, roles: [] };
  if (principal.kind === 'user') {
    return {
      auth,
      kind: 'user' as const,
      id: principal.userId,
      username: principal.username,
      roles: principal.roles,
      ...(principal.session
        ? { csrfToken: principal.session.csrfToken, sessionExpiresAt: principal.session.expiresAt.toISOString() }
        : {}),
    };
  }
  if (principal.kind === 'token')
    return { auth, kind: 'token' as const, id: principal.tokenId, name: principal.name, roles: principal.roles };
  return { auth, kind: 'anonymous' as const, roles: principal.roles };
}

function actorUserId(ctx: Context): string | null {
  const p = principalOf(ctx);
  return p?.kind === 'user' ? p.userId : null;
}

/** Sign-in, sign-out, who am I, and the admin API for users, tokens and the audit log. */
export function authRouter(deps: AuthDeps): Router {
  const router = new Router();
  const { throttle, basicCache } = deps.auth;

  router.post('/api/login', json, async (ctx) => {
    if (!deps.config.auth) throw httpError(409, 'Access control is off (AUTH=off): there is nothing to sign in to.');
    const body = bodyOf(ctx);
    const { username, password } = body;
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '') {
      throw httpError(400, 'Give "username" and "password".');
    }
    const address = ctx.request.ip;
    const verdict = await throttle.attempt(address, username);
    if (verdict.blocked) {
      await auditRequest(deps, ctx, {
        event: 'login',
        outcome: 'failure',
        actor: null,
        details: { method: 'password', reason: 'rate limited' },
      });
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      throw httpError(429, `Too many failed sign-ins. Try again in ${formatWait(verdict.retryAfterSeconds)}.`, {
        code: 'rate-limited',
      });
    }
    const user = USERNAME.test(username) ? await findUserByName(deps.db, username) : undefined;
    const check = user
      ? await verifyPassword(user.passwordHash, password)
      : (await verifyAgainstDummy(password), { ok: false, needsRehash: false });
    if (!user || !check.ok) {
      // The name tried is not recorded: people type their password into the name field.
      await auditRequest(deps, ctx, {
        event: 'login',
        outcome: 'failure',
        actor: null,
        details: { method: 'password', reason: 'wrong user name or password' },
      });
      throw httpError(401, 'Wrong user name or password.', { code: 'bad-credentials' });
    }
    await verdict.attempt.succeeded();
    if (check.needsRehash) await setPasswordHash(deps.db, user.id, await hashPassword(password), false);
    await deleteExpiredSessions(deps.db);
    const session = await createSession(deps.db, user.id, deps.config.sessionTtlHours * 3600, address || null);
    setSessionCookies(ctx, session);
    await noteLogin(deps.db, user.id);
    await auditRequest(deps, ctx, { event: 'login', actor: `user:${user.username}`, details: { method: 'password' } });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      user: { id: user.id, username: user.username, roles: user.roles },
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt.toISOString(),
      next: safeNextPath(body.next),
    };
  });

  accountPageRoutes(router, deps);

  router.post('/api/logout', async (ctx) => {
    const p = principalOf(ctx);
    if (p?.kind === 'user' && p.session) {
      await deleteSession(deps.db, p.session.idHash);
      await auditRequest(deps, ctx, { event: 'logout' });
    }
    clearSessionCookies(ctx);
    ctx.status = 204;
  });

  router.get('/api/me', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = meJson(principalOf(ctx), deps.config.auth);
  });

  router.post('/api/me/password', json, async (ctx) => {
    const p = principalOf(ctx);
    if (p?.kind !== 'user') throw httpError(400, 'Only a signed-in user has a password to change.');
    const body = bodyOf(ctx);
    const problem = passwordProblem(body.newPassword);
    if (problem) throw httpError(400, problem.replace('"password"', '"newPassword"'));
    const user = await findUserByName(deps.db, p.username);
    if (!user) throw httpError(401, 'This account no longer exists.');
    const address = ctx.request.ip;
    const verdict = await throttle.attempt(address, user.username);
    if (verdict.blocked) {
      ctx.set('Retry-After', String(verdict.retryAfterSeconds));
      throw httpError(429, `Too many failed attempts. Try again in ${formatWait(verdict.retryAfterSeconds)}.`, {
        code: 'rate-limited',
      });
    }
    if (
      typeof body.currentPassword !== 'string' ||
      !(await verifyPassword(user.passwordHash, body.currentPassword)).ok
    ) {
      await auditRequest(deps, ctx, {
        event: 'user-password',
        outcome: 'failure',
        target: user.id,
        details: { reason: 'wrong current password' },
      });
      throw httpError(403, 'The current password is wrong.', { code: 'bad-credentials' });
    }
    await verdict.attempt.succeeded();
    await setPasswordHash(deps.db, user.id, await hashPassword(body.newPassword as string));
    await deleteUserSessions(deps.db, user.id, p.session?.idHash);
    basicCache.clear();
    await auditRequest(deps, ctx, { event: 'user-password', target: user.id, details: { self: true } });
    ctx.status = 204;
  });

  // --- admin: users -----------------------------------------------------------------------------------

  router.get('/api/users', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await listUsers(deps.db);
  });

  router.post('/api/users', json, async (ctx) => {
    const body = bodyOf(ctx);
    const username = body.username;
    if (typeof username !== 'string' || !USERNAME.test(username) || username.toLowerCase() === 'token') {
      throw httpError(
        400,
        'Give "username": 1-64 letters, digits and . _ @ - (starting with a letter or digit; "token" is reserved).',
      );
    }
    const roles = rolesFromBody(body);
    const generated = body.password === undefined;
    const password = generated ? generatedPassword() : body.password;
    const problem = passwordProblem(password);
    if (problem) throw httpError(400, problem);
    const user = await createUser(deps.db, username, await hashPassword(password as string), roles);
    if (!user) throw httpError(409, `A user named "${username}" already exists.`);
    await auditRequest(deps, ctx, {
      event: 'user-create',
      target: user.id,
      details: { username: user.username, roles },
    });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    // A generated password is shown here once and never again.
    ctx.body = generated ? { ...user, password } : user;
  });

  router.delete('/api/users/:id', async (ctx) => {
    const id = idParam(ctx, 'user');
    const target = await findUserById(deps.db, id);
    if (!target) throw httpError(404, `No user with id "${id}".`);
    if (target.roles.includes('admin') && (await countAdmins(deps.db)) <= 1) {
      throw httpError(409, 'This is the last admin: create another admin before deleting it.');
    }
    await deleteUser(deps.db, id);
    basicCache.clear();
    await auditRequest(deps, ctx, { event: 'user-delete', target: id, details: { username: target.username } });
    ctx.body = target;
  });

  router.post('/api/users/:id/password', json, async (ctx) => {
    const id = idParam(ctx, 'user');
    const body = bodyOf(ctx);
    const generated = body.password === undefined;
    const password = generated ? generatedPassword() : body.password;
    const problem = passwordProblem(password);
    if (problem) throw httpError(400, problem);
    if (!(await setPasswordHash(deps.db, id, await hashPassword(password as string))))
      throw httpError(404, `No user with id "${id}".`);
    // An admin resetting their own password stays signed in here; every other session of that user ends.
    const me = principalOf(ctx);
    const keep = me?.kind === 'user' && me.userId === id ? me.session?.idHash : undefined;
    const ended = await deleteUserSessions(deps.db, id, keep);
    basicCache.clear();
    await auditRequest(deps, ctx, { event: 'user-password', target: id, details: { sessionsEnded: ended } });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = generated ? { id, password, sessionsEnded: ended } : { id, sessionsEnded: ended };
  });

  // --- admin: API tokens ------------------------------------------------------------------------------

  router.get('/api/tokens', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await listTokens(deps.db);
  });

  router.post('/api/tokens', json, async (ctx) => {
    const body = bodyOf(ctx);
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    if (name === '' || name.length > 100 || /[\u0000-\u001f]/.test(name))
      throw httpError(400, 'Give "name": 1-100 printable characters saying who uses the token (e.g. "PACS north").');
    const roles = rolesFromBody(body);
    let expiresAt: Date | null = null;
    if (body.expiresAt !== undefined && body.expiresAt !== null) {
      const t = typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN;
      if (!Number.isFinite(t))
        throw httpError(400, '"expiresAt" must be an ISO 8601 date and time, e.g. 2031-01-01T00:00:00Z.');
      if (t <= Date.now()) throw httpError(400, '"expiresAt" is in the past.');
      expiresAt = new Date(t);
    } else if (body.expiresInDays !== undefined) {
      const d = body.expiresInDays;
      if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0 || d > 3650)
        throw httpError(400, '"expiresInDays" must be a number of days between 0 and 3650.');
      expiresAt = new Date(Date.now() + d * 86_400_000);
    }
    const { token, record } = await createToken(deps.db, { name, roles, createdBy: actorUserId(ctx), expiresAt });
    await auditRequest(deps, ctx, {
      event: 'token-create',
      target: record.id,
      details: { name, roles, expiresAt: record.expiresAt },
    });
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    // The token is shown here once; only its hash is kept.
    ctx.body = { ...record, token };
  });

  router.delete('/api/tokens/:id', async (ctx) => {
    const id = idParam(ctx, 'token');
    const record = await deleteToken(deps.db, id);
    if (!record) throw httpError(404, `No token with id "${id}".`);
    await auditRequest(deps, ctx, { event: 'token-delete', target: id, details: { name: record.name } });
    ctx.body = record;
  });

  // --- admin: audit log -------------------------------------------------------------------------------

  router.get('/api/audit', async (ctx) => {
    const q = ctx.query;
    const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
    const limitRaw = one(q.limit);
    const limit = limitRaw === undefined ? 100 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw httpError(400, '"limit" must be a whole number from 1 to 1000.');
    const beforeRaw = one(q.before);
    const before = beforeRaw === undefined ? undefined : Number(beforeRaw);
    if (before !== undefined && (!Number.isInteger(before) || before < 1))
      throw httpError(400, '"before" must be an audit row id.');
    const event = one(q.event);
    if (event !== undefined && !(AUDIT_EVENTS as readonly string[]).includes(event)) {
      throw httpError(400, `"event" must be one of ${AUDIT_EVENTS.join(', ')}.`);
    }
    const format = one(q.format);
    if (format !== undefined && format !== 'dicom') throw httpError(400, '"format" may only be "dicom".');
    const rows = await listAudit(deps.db, { limit, before, event, actor: one(q.actor) });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      // With format=dicom each row also carries its DICOM audit message (PS3.15 A.5), for an audit repository.
      events:
        format === 'dicom'
          ? rows.map((r) => ({ ...r, dicomAuditMessage: dicomAuditMessage(r, 'anatomy-gateway') ?? null }))
          : rows,
      next:
        rows.length === limit
          ? `/api/audit?limit=${limit}&before=${rows[rows.length - 1].id}${format ? `&format=${format}` : ''}`
          : null,
    };
  });

  return router;
}

import type { Context, Next } from 'koa';
import { httpError } from '../errors.ts';
import { auditRequest } from './auditRequest.ts';
import type { AuthDeps } from './deps.ts';
import { matchAccessRule, type Access } from './accessRules.ts';
import { CSRF_HEADER, clearSessionCookies, sessionCookieName } from './cookies.ts';
import { verifyAgainstDummy, verifyPassword } from './passwords.ts';
import { ANONYMOUS, describePrincipal, type Principal } from './principal.ts';
import { hasRole } from './roles.ts';
import { safeEqual } from './secrets.ts';
import { findSession, findTokenByValue, findUserById, findUserByName, touchToken } from './store.ts';
import { formatWait } from './formatWait.ts';

const REALM = 'anatomy-gateway';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** `next` for /login: a path on this server only (no scheme, no "//host", no backslash tricks). */
export function safeNextPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 2000) return '/';
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\') || /[\u0000-\u001f]/.test(raw)) return '/';
  if (raw === '/login' || raw.startsWith('/login?') || raw.startsWith('/api/')) return '/';
  return raw;
}

function unauthorized(ctx: Context, message: string): never {
  // A Basic challenge makes browsers pop up their own password dialog over our pages, so it is only
  // offered to clients that are not browsers (browsers send Sec-Fetch-Site on every request; Node's
  // fetch sends only Sec-Fetch-Mode, curl and PACS neither).
  const challenges = [`Bearer realm="${REALM}"`];
  if (!ctx.get('Sec-Fetch-Site')) challenges.push(`Basic realm="${REALM}", charset="UTF-8"`);
  ctx.set('WWW-Authenticate', challenges);
  throw httpError(401, message, { code: 'unauthenticated' });
}

/** A page request (a person in a browser) is sent to the sign-in page; API clients get 401. */
function wantsPage(ctx: Context): boolean {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  if (ctx.path.startsWith('/api/') || ctx.path.startsWith('/dicomweb/') || ctx.path === '/dicomweb') return false;
  return ctx.accepts('json', 'html') === 'html';
}

type Resolved = { principal: Principal } | { problem: string };

async function fromAuthorization(deps: AuthDeps, ctx: Context, header: string): Promise<Resolved> {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') return fromToken(deps, value);
  if (scheme !== 'basic') return { problem: 'Unsupported Authorization scheme: use Bearer <token> or Basic.' };
  let decoded: string;
  try {
    decoded = Buffer.from(value, 'base64').toString('utf8');
  } catch {
    return { problem: 'The Basic credentials are not valid base64.' };
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return { problem: 'Basic credentials must be user:password (or token:<API token>).' };
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (username === 'token') return fromToken(deps, password);
  return fromPassword(deps, ctx, username, password);
}

async function fromToken(deps: AuthDeps, token: string): Promise<Resolved> {
  if (!token) return { problem: 'The Authorization header has no token.' };
  const record = await findTokenByValue(deps.db, token);
  if (!record) return { problem: 'This API token is not valid (unknown or revoked).' };
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= Date.now()) {
    return { problem: `This API token expired at ${record.expiresAt}.` };
  }
  await touchToken(deps.db, record.id);
  return { principal: { kind: 'token', tokenId: record.id, name: record.name, roles: record.roles } };
}

async function fromPassword(deps: AuthDeps, ctx: Context, username: string, password: string): Promise<Resolved> {
  const { throttle, basicCache } = deps.auth;
  const cached = basicCache.get(username, password);
  if (cached) {
    const user = await findUserById(deps.db, cached);
    if (user) return { principal: { kind: 'user', userId: user.id, username: user.username, roles: user.roles } };
  }
  const address = ctx.request.ip;
  const verdict = await throttle.attempt(address, username);
  if (verdict.blocked) {
    ctx.set('Retry-After', String(verdict.retryAfterSeconds));
    throw httpError(429, `Too many failed sign-ins. Try again in ${formatWait(verdict.retryAfterSeconds)}.`, {
      code: 'rate-limited',
    });
  }
  const user = await findUserByName(deps.db, username);
  const ok = user
    ? (await verifyPassword(user.passwordHash, password)).ok
    : (await verifyAgainstDummy(password), false);
  if (!user || !ok) {
    await auditRequest(deps, ctx, {
      event: 'login',
      outcome: 'failure',
      actor: null,
      details: { method: 'basic', reason: 'wrong user name or password' },
    });
    return { problem: 'Wrong user name or password.' };
  }
  await verdict.attempt.succeeded();
  basicCache.set(username, password, user.id);
  return { principal: { kind: 'user', userId: user.id, username: user.username, roles: user.roles } };
}

async function fromSession(deps: AuthDeps, ctx: Context): Promise<Principal | undefined> {
  const id = ctx.cookies.get(sessionCookieName(ctx));
  if (!id) return undefined;
  const session = await findSession(deps.db, id);
  if (!session) {
    clearSessionCookies(ctx);
    return undefined;
  }
  const { user } = session;
  return {
    kind: 'user',
    userId: user.id,
    username: user.username,
    roles: user.roles,
    session: { idHash: session.idHash, csrfToken: session.csrfToken, expiresAt: session.expiresAt },
  };
}

function allowed(access: Access, principal: Principal): boolean {
  if (access === 'public' || access === 'authenticated') return true;
  return hasRole(principal.roles, access);
}

/**
 * Who is asking (token in Authorization, else the session cookie) and whether they may: the rules
 * table decides, this only applies it. Session requests that change state must carry the session's
 * CSRF token in X-CSRF-Token (synchronizer token: compared with the value stored in the session row).
 * Bearer/Basic requests need none: a browser never attaches those by itself.
 */
export function accessControl(deps: AuthDeps) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!deps.config.auth) {
      ctx.state.principal = ANONYMOUS;
      return next();
    }
    const { access, rulePath } = matchAccessRule(ctx.method, ctx.path);
    const isLogin = ctx.method === 'POST' && ctx.path === '/api/login';
    const header = ctx.get('Authorization');
    let principal: Principal | undefined;
    if (header && access !== 'public') {
      const resolved = await fromAuthorization(deps, ctx, header);
      if ('problem' in resolved) unauthorized(ctx, resolved.problem);
      principal = resolved.principal;
    } else if (header && /^bearer /i.test(header)) {
      // A public route (/healthz) shows more to a valid API token, and is still open to a wrong one.
      const resolved = await fromToken(deps, header.slice(7).trim());
      if ('principal' in resolved) principal = resolved.principal;
    } else if (!isLogin) {
      principal = await fromSession(deps, ctx);
    }

    if (principal?.kind === 'user' && principal.session && !SAFE_METHODS.has(ctx.method)) {
      const sent = ctx.get(CSRF_HEADER);
      if (!sent || !safeEqual(sent, principal.session.csrfToken)) {
        throw httpError(
          403,
          `This request needs the ${CSRF_HEADER} header of your session. Reload the page and try again.`,
          { code: 'csrf' },
        );
      }
    }

    if (access !== 'public') {
      if (!principal) {
        if (wantsPage(ctx)) {
          ctx.set('Cache-Control', 'no-store');
          ctx.redirect(`/login?next=${encodeURIComponent(safeNextPath(ctx.originalUrl))}`);
          return;
        }
        unauthorized(ctx, 'Sign in, or send Authorization: Bearer <API token> (or Basic).');
      }
      if (!allowed(access, principal)) {
        await auditRequest(deps, ctx, {
          event: 'access-denied',
          outcome: 'failure',
          actor: describePrincipal(principal),
          target: `${ctx.method} ${rulePath}`,
          details: { needs: access },
        });
        const who =
          principal.kind === 'token'
            ? `The token "${principal.name}"`
            : `The user "${principal.kind === 'user' ? principal.username : ''}"`;
        const has = principal.roles.length ? principal.roles.join(', ') : 'no role';
        throw httpError(403, `${who} may not do this: it needs the ${access} role (it has ${has}).`, {
          code: 'forbidden',
        });
      }
    }
    ctx.state.principal = principal;
    await next();
  };
}

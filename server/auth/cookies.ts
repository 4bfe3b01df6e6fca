import type { Context } from 'koa';

/**
 * Under TLS the cookies take the `__Host-` prefix: the browser then only accepts them with Secure,
 * Path=/ and no Domain, so a sibling host cannot plant or overwrite them.
 */
export function sessionCookieName(ctx: Context): string {
  return ctx.secure ? '__Host-ag_session' : 'ag_session';
}

/** Readable by the pages' script (not HttpOnly): they copy it into the X-CSRF-Token header. */
export function csrfCookieName(ctx: Context): string {
  return ctx.secure ? '__Host-ag_csrf' : 'ag_csrf';
}

export const CSRF_HEADER = 'X-CSRF-Token';

export function setSessionCookies(ctx: Context, session: { id: string; csrfToken: string; expiresAt: Date }): void {
  const common = {
    path: '/',
    sameSite: 'lax' as const,
    secure: ctx.secure,
    expires: session.expiresAt,
    overwrite: true,
  };
  ctx.cookies.set(sessionCookieName(ctx), session.id, { ...common, httpOnly: true });
  ctx.cookies.set(csrfCookieName(ctx), session.csrfToken, { ...common, httpOnly: false });
}

export function clearSessionCookies(ctx: Context): void {
  const common = { path: '/', sameSite: 'lax' as const, secure: ctx.secure, expires: new Date(0), overwrite: true };
  ctx.cookies.set(sessionCookieName(ctx), '', { ...common, httpOnly: true });
  ctx.cookies.set(csrfCookieName(ctx), '', { ...common, httpOnly: false });
}

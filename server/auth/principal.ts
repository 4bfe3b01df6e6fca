import type { Context } from 'koa';
import { ROLES, type Role } from './roles.ts';

/** Who is making a request, set on `ctx.state.principal` by the access middleware. */
export type Principal =
  | {
      kind: 'user';
      userId: string;
      username: string;
      roles: Role[];
      session?: { idHash: string; csrfToken: string; expiresAt: Date };
    }
  | { kind: 'token'; tokenId: string; name: string; roles: Role[] }
  /** AUTH=off: everyone may do everything, and the audit log says so. */
  | { kind: 'anonymous'; roles: Role[] };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous', roles: [...ROLES] });

export function principalOf(ctx: Context): Principal | undefined {
  return (ctx.state as { principal?: Principal }).principal;
}

/** How the audit log and error messages name a principal. */
export function describePrincipal(p: Principal | undefined): string | null {
  if (!p) return null;
  if (p.kind === 'user') return `user:${p.username}`;
  if (p.kind === 'token') return `token:${p.name}`;
  return 'anonymous';
}

import type { Context } from 'koa';
import { audit, type AuditDeps, type AuditEvent } from '../audit/audit.ts';
import { describePrincipal, principalOf } from './principal.ts';

/** An audit row with the actor and address of an HTTP request filled in. */
export function auditRequest(
  deps: AuditDeps,
  ctx: Context,
  event: Omit<AuditEvent, 'actor' | 'address'> & { actor?: string | null },
): Promise<void> {
  return audit(deps, {
    ...event,
    actor: event.actor ?? describePrincipal(principalOf(ctx)),
    address: ctx.request.ip || null,
  });
}

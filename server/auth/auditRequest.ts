import type { Context } from 'koa';
import { audit, type AuditDeps, type AuditEvent } from '../audit/audit.ts';
import { readAuditEvent, RepeatedReads, type PatientDataRead } from '../audit/readAudit.ts';
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

const repeatedReads = new RepeatedReads();

/**
 * One audit row for a read of patient data by this request. With `fold`, repeats of the same read (same actor,
 * address, kind, study and series) within a minute are folded into the first row (readAudit.ts).
 */
export async function auditPatientDataRead(
  deps: AuditDeps,
  ctx: Context,
  read: PatientDataRead,
  outcome: 'success' | 'failure',
  options: { fold?: boolean } = {},
): Promise<void> {
  const actor = describePrincipal(principalOf(ctx));
  if (options.fold && outcome === 'success') {
    const key = [actor, ctx.request.ip, read.event, read.what, read.studies?.join(','), read.series?.join(',')].join(
      '|',
    );
    if (!repeatedReads.first(key)) return;
  }
  const event = readAuditEvent(read, outcome);
  if (options.fold) event.details = { ...event.details, foldsRepeatsForSeconds: repeatedReads.windowMs / 1000 };
  await auditRequest(deps, ctx, event);
}

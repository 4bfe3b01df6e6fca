import type { Config } from '../config/config.ts';
import { chooseTransferSyntax, UNCOMPRESSED_TRANSFER_SYNTAXES } from './transferSyntaxes.ts';
import { isStorageSopClass, VERIFICATION_SOP_CLASS } from './sopClasses.ts';

/**
 * Whether to accept an A-ASSOCIATE-RQ, and with which A-ASSOCIATE-RJ parameters to refuse it
 * (PS3.8 Table 9-21). Kept free of dcmjs-dimse so the decisions can be tested directly.
 */
export type RejectReasonName = 'calling-ae-not-recognized' | 'called-ae-not-recognized' | 'local-limit-exceeded';

export type AssociationDecision =
  | { accept: true }
  | {
      accept: false;
      /** Transient tells the sender it may try again later; permanent that it must not. */
      result: 'permanent' | 'transient';
      source: 'service-user' | 'service-provider-presentation';
      reason: RejectReasonName;
      /** For our log: what was wrong, in words. */
      why: string;
    };

export interface AssociationPolicy {
  aeTitle: string;
  /** Empty: any calling AE title. */
  allowedAets: readonly string[];
  maxAssociations: number;
}

/**
 * The calling AE titles let in: DIMSE_ALLOWED_AETS, and with it the AE title of every DIMSE node in
 * PACS_NODES, since a node we retrieve from by C-MOVE delivers on an association it opens to us (a
 * node calling from another AE title than the one it is reached at must be listed itself). Empty
 * when DIMSE_ALLOWED_AETS is: anyone may call.
 */
export function allowedCallingAets(config: Pick<Config, 'dimseAllowedAets' | 'pacsNodes'>): string[] {
  if (config.dimseAllowedAets.length === 0) return [];
  const nodes = config.pacsNodes.flatMap((n) => (n.dimse ? [normalizeAeTitle(n.dimse.aeTitle)] : []));
  return [...new Set([...config.dimseAllowedAets, ...nodes])];
}

/** AE titles are padded with spaces on the wire; leading and trailing spaces are not significant (PS3.5 6.2). */
export function normalizeAeTitle(aet: string): string {
  return aet.trim();
}

export function decideAssociation(
  request: { callingAet: string; calledAet: string; activeAssociations: number },
  policy: AssociationPolicy,
): AssociationDecision {
  const calling = normalizeAeTitle(request.callingAet);
  const called = normalizeAeTitle(request.calledAet);
  if (called !== policy.aeTitle) {
    return {
      accept: false,
      result: 'permanent',
      source: 'service-user',
      reason: 'called-ae-not-recognized',
      why: `called AE title "${called}" is not ours ("${policy.aeTitle}")`,
    };
  }
  if (policy.allowedAets.length > 0 && !policy.allowedAets.includes(calling)) {
    return {
      accept: false,
      result: 'permanent',
      source: 'service-user',
      reason: 'calling-ae-not-recognized',
      why: `calling AE title "${calling}" is neither in DIMSE_ALLOWED_AETS nor the AE title of a PACS_NODES node`,
    };
  }
  if (request.activeAssociations >= policy.maxAssociations) {
    return {
      accept: false,
      result: 'transient',
      source: 'service-provider-presentation',
      reason: 'local-limit-exceeded',
      why: `${request.activeAssociations} associations are already open (limit ${policy.maxAssociations})`,
    };
  }
  return { accept: true };
}

export type ContextDecision =
  | { accept: true; transferSyntaxUid: string }
  | { accept: false; reason: 'abstract-syntax-not-supported' | 'transfer-syntaxes-not-supported' };

/** Verification and every storage SOP class, in a transfer syntax we can decode. */
export function decidePresentationContext(
  abstractSyntaxUid: string,
  transferSyntaxUids: readonly string[],
): ContextDecision {
  if (abstractSyntaxUid !== VERIFICATION_SOP_CLASS && !isStorageSopClass(abstractSyntaxUid)) {
    return { accept: false, reason: 'abstract-syntax-not-supported' };
  }
  const proposed =
    abstractSyntaxUid === VERIFICATION_SOP_CLASS
      ? transferSyntaxUids.filter((uid) => UNCOMPRESSED_TRANSFER_SYNTAXES.has(uid))
      : transferSyntaxUids;
  const chosen = chooseTransferSyntax(proposed);
  return chosen
    ? { accept: true, transferSyntaxUid: chosen }
    : { accept: false, reason: 'transfer-syntaxes-not-supported' };
}

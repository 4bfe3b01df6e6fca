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
      why: `calling AE title "${calling}" is not in DIMSE_ALLOWED_AETS`,
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

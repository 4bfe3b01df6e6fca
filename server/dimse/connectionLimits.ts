/**
 * Connections that have not associated yet cost a socket and a PDU buffer each while they hold nothing a sender
 * needs, so their number is capped, in all and per address (a flood from one host does not lock out the others).
 */
export interface UnassociatedLimits {
  connections: Iterable<{ readonly accepted: boolean; readonly remoteAddress: string | undefined }>;
  maxUnassociated: number;
  maxUnassociatedPerAddress: number;
}

/** Why a new connection from `remoteAddress` is closed before it may associate, or undefined. */
export function unassociatedRefusal(limits: UnassociatedLimits, remoteAddress: string | undefined): string | undefined {
  let unassociated = 0;
  let fromHere = 0;
  for (const c of limits.connections) {
    if (c.accepted) continue;
    unassociated += 1;
    if (c.remoteAddress === remoteAddress) fromHere += 1;
  }
  if (unassociated >= limits.maxUnassociated)
    return `${unassociated} connections are waiting to associate (limit ${limits.maxUnassociated})`;
  if (fromHere >= limits.maxUnassociatedPerAddress)
    return `${fromHere} connections from this address are waiting to associate (limit ${limits.maxUnassociatedPerAddress})`;
  return undefined;
}

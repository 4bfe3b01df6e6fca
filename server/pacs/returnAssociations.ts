import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Database } from '../db/database.ts';
import type { PacsNode } from '../config/pacsNodes.ts';

/**
 * What became of the associations a node opened to our SCP while it ran a C-MOVE for us: read from
 * the audit rows the SCP writes for every association it refuses or closes, since the SCP may run in
 * another process (`serve`) than the retrieve (`worker`). A node is recognised by the AE title it is
 * configured with or by its address, since a PACS may call from another AE title than it answers to.
 */

export interface RefusedAssociation {
  callingAet: string;
  calledAet: string | undefined;
  address: string | null;
  /** The A-ASSOCIATE-RJ reason (associationPolicy.ts), e.g. "calling-ae-not-recognized". */
  reason: string;
  /** The SCP's own words for the refusal. */
  why: string;
}

export interface ReturnAssociations {
  refused: RefusedAssociation[];
  /** Associations accepted and since closed. */
  accepted: number;
}

/** The database's clock, so that rows written by another machine's SCP compare with it. */
export async function databaseNow(db: Database): Promise<string> {
  const { rows } = await db.query<{ now: string }>('SELECT now()::text AS now');
  return rows[0].now;
}

/** IPv4 peers show up as IPv4-mapped IPv6 addresses on a dual-stack socket. */
function plainAddress(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

async function nodeAddresses(host: string): Promise<Set<string>> {
  if (isIP(host)) return new Set([plainAddress(host)]);
  try {
    return new Set((await lookup(host, { all: true })).map((a) => plainAddress(a.address)));
  } catch {
    return new Set();
  }
}

/** Associations from `node` that our SCP refused or closed since `since` (a databaseNow() value). */
export async function returnAssociationsSince(
  db: Database,
  node: PacsNode,
  since: string,
): Promise<ReturnAssociations> {
  const out: ReturnAssociations = { refused: [], accepted: 0 };
  if (!node.dimse) return out;
  const addresses = await nodeAddresses(node.dimse.host);
  const { rows } = await db.query<{ actor: string | null; address: string | null; details: Record<string, unknown> }>(
    `SELECT actor, address, details FROM audit_log
      WHERE event = 'dimse-store' AND at >= $1::timestamptz
      ORDER BY at`,
    [since],
  );
  for (const row of rows) {
    const callingAet = row.actor?.startsWith('ae:') ? row.actor.slice(3) : '';
    const fromNode =
      callingAet === node.dimse.aeTitle || (row.address !== null && addresses.has(plainAddress(row.address)));
    if (!fromNode) continue;
    const reason = row.details?.rejected;
    if (typeof reason === 'string') {
      out.refused.push({
        callingAet,
        calledAet: typeof row.details.calledAet === 'string' ? row.details.calledAet : undefined,
        address: row.address === null ? null : plainAddress(row.address),
        reason,
        why: typeof row.details.why === 'string' ? row.details.why : reason,
      });
    } else {
      out.accepted++;
    }
  }
  return out;
}

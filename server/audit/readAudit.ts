import type { AuditEvent } from './audit.ts';

/**
 * Reads of patient data (who searched, retrieved or viewed which studies), as audit rows shaped for DICOM audit
 * messages (dicomAudit.ts): the studies and series by UID, counts, the names of the attributes a search matched on
 * (never their values: a search by patient name must not put the name in the trail) and the HTTP status.
 */

export type ReadEvent =
  'dicomweb-query' | 'dicomweb-retrieve' | 'dicomweb-access' | 'pacs-query' | 'pacs-retrieve' | 'viewer-open';

export interface PatientDataRead {
  event: ReadEvent;
  /** What was read: `studies`, `series`, `instances` (a search level), `metadata`, `frames`, `rendered`, ... */
  what: string;
  studies?: readonly string[];
  series?: readonly string[];
  /** Instances sent or read. */
  instances?: number;
  /** Matches a search returned. */
  matches?: number;
  /** Names of the attributes a search matched on. */
  queryKeys?: readonly string[];
  /** The PACS node searched or retrieved from. */
  node?: string;
  /** The HTTP status the request ended with. */
  status?: number;
}

/** More UIDs than this in one row are counted, not listed (a search of a whole archive). */
export const MAX_UIDS_PER_ROW = 100;

function capped(values: readonly string[] | undefined): string[] | undefined {
  if (!values) return undefined;
  return [...new Set(values.filter((v) => v !== ''))].slice(0, MAX_UIDS_PER_ROW);
}

export function readAuditEvent(
  read: PatientDataRead,
  outcome: 'success' | 'failure',
): Omit<AuditEvent, 'actor' | 'address'> {
  const studies = capped(read.studies);
  const series = capped(read.series);
  return {
    event: read.event,
    outcome,
    target: studies && studies.length === 1 ? studies[0] : null,
    details: {
      what: read.what,
      studies,
      series,
      instances: read.instances,
      matches: read.matches,
      queryKeys: read.queryKeys ? [...new Set(read.queryKeys)].slice(0, 50) : undefined,
      node: read.node,
      status: read.status,
      ...(read.studies && read.studies.length > MAX_UIDS_PER_ROW ? { studiesListed: MAX_UIDS_PER_ROW } : {}),
    },
  };
}

/**
 * A viewer fetches a series frame by frame: hundreds of requests a minute for one look at one series. The first
 * read of a kind by an actor from an address of a series makes a row; repeats within the window are folded into
 * it (the row says so) rather than flooding the trail.
 */
export class RepeatedReads {
  readonly #seen = new Map<string, number>();
  constructor(
    readonly windowMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** True when this read should make a row (the first in its window). */
  first(key: string, now = Date.now()): boolean {
    const since = this.#seen.get(key);
    if (since !== undefined && now - since < this.windowMs) return false;
    if (this.#seen.size >= this.maxKeys) {
      for (const [k, at] of this.#seen) if (now - at >= this.windowMs) this.#seen.delete(k);
      if (this.#seen.size >= this.maxKeys) this.#seen.clear();
    }
    this.#seen.set(key, now);
    return true;
  }
}

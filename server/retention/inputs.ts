import type { Database } from '../db/database.ts';
import { deleteInputRowsReceivedBy, deleteJobInputRows } from '../dicomIndex/deleteJobInputs.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * Deleting a job's inputs after it succeeded (unless KEEP_INPUTS). Only what the job itself read may go: an
 * instance re-sent while the job ran has the same key (keys derive from UIDs) but is a different object (placing
 * writes a new file) and has a newer index row, so it stays, and so does its row.
 */

/** Which object the job read at each key (by storage identity), as it found them when it started. */
export async function inputIdentities(storage: Storage, keys: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of keys) {
    const s = await storage.stat(key).catch(() => undefined);
    if (s) out.set(key, s.identity); // missing: the reader reports it
  }
  return out;
}

/** Total bytes of the inputs as found when the job started. */
export async function inputBytes(storage: Storage, keys: readonly string[]): Promise<number> {
  let total = 0;
  for (const key of keys) total += (await storage.stat(key).catch(() => undefined))?.size ?? 0;
  return total;
}

export interface InputDeletion {
  files: number;
  indexRows: number;
  /** Files left because something newer arrived under the same name while the job ran. */
  keptNewer: number;
}

/**
 * Deletes the DICOM instances a `process` job read, their index rows, and the series and study rows (patient
 * data) left without instances. `readIdentities` are the objects as the job found them.
 */
export async function deleteSeriesInputs(
  deps: { db: Database; storage: Storage },
  jobId: string,
  keys: readonly string[],
  readIdentities: ReadonlyMap<string, string>,
): Promise<InputDeletion> {
  return await removeInputFiles(deps.storage, await deleteJobInputRows(deps.db, jobId, keys), readIdentities);
}

/**
 * Deletes instances a series was sent again with, unchanged, while its earlier result stands: those indexed by
 * `cutoff` and still the objects found then (`identities`). Anything newer stays for the next grouping.
 */
export async function deleteResentInputs(
  deps: { db: Database; storage: Storage },
  keys: readonly string[],
  cutoff: string,
  identities: ReadonlyMap<string, string>,
): Promise<InputDeletion> {
  return await removeInputFiles(deps.storage, await deleteInputRowsReceivedBy(deps.db, keys, cutoff), identities);
}

async function removeInputFiles(
  storage: Storage,
  deleted: readonly string[],
  readIdentities: ReadonlyMap<string, string>,
): Promise<InputDeletion> {
  // Files go after the rows: a crash in between leaves an unindexed file, never a row without its file.
  const result: InputDeletion = { files: 0, indexRows: deleted.length, keptNewer: 0 };
  for (const key of deleted) {
    const identity = readIdentities.get(key);
    const outcome = identity === undefined ? 'kept' : await storage.removeIfSame(key, identity);
    if (outcome === 'removed') result.files += 1;
    else if (outcome === 'kept') result.keptNewer += 1;
  }
  return result;
}

/** An uploaded volume file is used by exactly one job. */
export function deleteVolumeInput(storage: Storage, key: string): Promise<boolean> {
  return storage.remove(key);
}

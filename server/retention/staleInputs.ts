import type { Database } from '../db/database.ts';
import { deleteInputRowsReceivedBy } from '../dicomIndex/deleteJobInputs.ts';
import { markVolumeInputRemoved, staleSeriesInputs, staleVolumeInputs } from '../dicomIndex/staleInputs.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * INPUT_RETENTION_DAYS: the images of series that failed or were never processed, and uploaded volumes of failed
 * jobs, are patient data with no use left; they go after the retention like results do. Rows first, then files: a
 * crash in between leaves an unindexed file, which the start-up reconciliation finds.
 */

const BATCH = 50;

export interface StaleInputsRemoved {
  series: number;
  instances: number;
  volumes: number;
}

export async function sweepStaleInputs(
  deps: { db: Database; storage: Storage },
  days: number,
  signal?: AbortSignal,
): Promise<StaleInputsRemoved> {
  const removed: StaleInputsRemoved = { series: 0, instances: 0, volumes: 0 };
  if (days <= 0) return removed;
  for (;;) {
    signal?.throwIfAborted();
    const batch = await staleSeriesInputs(deps.db, days, BATCH);
    if (batch.length === 0) break;
    // Only rows received before the retention began go: an instance arriving meanwhile keeps its series.
    const cutoff = new Date(Date.now() - days * 86_400_000).toISOString();
    let progressed = false;
    for (const { paths } of batch) {
      const deleted = await deleteInputRowsReceivedBy(deps.db, paths, cutoff);
      for (const path of deleted) if (await deps.storage.remove(path)) removed.instances += 1;
      if (deleted.length > 0) {
        removed.series += 1;
        progressed = true;
      }
    }
    if (!progressed) break;
  }
  for (;;) {
    signal?.throwIfAborted();
    const files = await staleVolumeInputs(deps.db, days, BATCH);
    if (files.length === 0) break;
    for (const file of files) {
      if (await deps.storage.remove(file)) removed.volumes += 1;
      await markVolumeInputRemoved(deps.db, file);
    }
  }
  return removed;
}

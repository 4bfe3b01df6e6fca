import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { Queue } from '../jobs/queue.ts';
import type { TaskHandler } from '../jobs/task.ts';
import { deleteResultRow, expiredResultIds } from '../results/resultsStore.ts';
import type { Storage } from '../storage/storage.ts';
import type { Config } from '../config/config.ts';
import { sweepStaleInputs } from './staleInputs.ts';

/**
 * Kind `sweep-retention`: removes results whose RESULT_RETENTION_DAYS have passed, and inputs past
 * INPUT_RETENTION_DAYS (staleInputs.ts) (folder first, then the
 * row, so a crash in between leaves an expired row the next sweep finds again, never an orphaned folder).
 * One keyed job in the queue, re-armed for the next hour at the start of each run, so the sweep survives
 * restarts, runs in one process at a time however many workers there are, and a failing run does not end it.
 */

export const SWEEP_RETENTION_KEY = 'sweep-retention';
export const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const BATCH = 100;

export async function scheduleRetentionSweep(queue: Queue, delayMs = 0): Promise<void> {
  await queue.add(
    'sweep-retention',
    {},
    { key: SWEEP_RETENTION_KEY, runAfter: new Date(Date.now() + delayMs), maxAttempts: 3 },
  );
}

/** Deletes every expired result; returns how many. */
export async function sweepExpiredResults(
  deps: { db: Database; storage: Storage },
  signal?: AbortSignal,
): Promise<number> {
  let removed = 0;
  for (;;) {
    signal?.throwIfAborted();
    const ids = await expiredResultIds(deps.db, BATCH);
    if (ids.length === 0) return removed;
    for (const id of ids) {
      await deps.storage.removeResult(id);
      if (await deleteResultRow(deps.db, id)) removed += 1;
    }
  }
}

export function sweepRetentionTask(deps: {
  db: Database;
  storage: Storage;
  queue: Queue;
  logger: Logger;
  config: Pick<Config, 'inputRetentionDays'>;
}): TaskHandler<Record<string, never>> {
  return async (_job, helpers) => {
    await scheduleRetentionSweep(deps.queue, SWEEP_INTERVAL_MS);
    const removed = await sweepExpiredResults(deps, helpers.signal);
    helpers.log(`retention: ${removed} expired result(s) removed`);
    if (removed > 0) deps.logger.info({ results: removed }, 'expired results removed');
    const inputs = await sweepStaleInputs(deps, deps.config.inputRetentionDays, helpers.signal);
    helpers.log(
      `retention: inputs of ${inputs.series} unprocessed or failed series (${inputs.instances} instances) and ${inputs.volumes} volume file(s) removed`,
    );
    if (inputs.series + inputs.volumes > 0) deps.logger.info({ ...inputs }, 'inputs past INPUT_RETENTION_DAYS removed');
  };
}

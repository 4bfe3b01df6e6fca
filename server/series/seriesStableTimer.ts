import type { Config } from '../config/config.ts';
import type { Queryable } from '../db/database.ts';
import type { Queue } from '../jobs/queue.ts';

/**
 * Series grouping. Neither DIMSE nor DICOMweb says when a series is complete, so, as Orthanc's StableAge and MONAI's
 * grouping timeout do, a series is taken as complete after SERIES_STABLE_SECONDS without a new instance. The timer
 * is a debounced job in the queue (one queued `series-stable` job per series, pushed later by each instance), so it
 * survives restarts and works with several server processes.
 */

export function seriesStableKey(seriesInstanceUid: string): string {
  return `series-stable:${seriesInstanceUid}`;
}

export async function scheduleSeriesStable(
  deps: { config: Pick<Config, 'seriesStableSeconds'>; queue: Queue },
  seriesInstanceUid: string,
  tx?: Queryable,
  delaySeconds = deps.config.seriesStableSeconds,
  slackMs = 0,
): Promise<void> {
  const runAfter = new Date(Date.now() + delaySeconds * 1000 + slackMs);
  await deps.queue.add(
    'series-stable',
    { seriesInstanceUid },
    { key: seriesStableKey(seriesInstanceUid), runAfter, maxAttempts: 5 },
    tx,
  );
}

/**
 * Pushing a series' quiet-period timer is a write to the queue (and a notification) per instance, a third of the
 * index's work for a C-STORE sender that waits for each instance. So ingest pushes it at most once per `slackMs`
 * per series, each push setting it `slackMs` further out than the quiet period: an instance that skips its push
 * came less than `slackMs` after one, so the job still runs no sooner than SERIES_STABLE_SECONDS after it, and at
 * most `slackMs` later than it would have. Per process: another process ingesting the same series pushes on its
 * own schedule, and every push only moves the timer later.
 */
export class SeriesStablePushes {
  readonly slackMs: number;
  readonly #lastPush = new Map<string, number>();

  constructor(stableSeconds: number) {
    // A tenth of the quiet period, at most a second: 10 s gives jobs 10-11 s after the last instance.
    this.slackMs = Math.min(1000, (stableSeconds * 1000) / 10);
  }

  /** The series of a batch whose timer must be pushed in its transaction. */
  due(seriesUids: Iterable<string>, now = performance.now()): string[] {
    const out: string[] = [];
    for (const uid of seriesUids) {
      const last = this.#lastPush.get(uid);
      if (this.slackMs <= 0 || last === undefined || now - last >= this.slackMs) out.push(uid);
    }
    return out;
  }

  /** Records pushes once their transaction has committed (`at`: when they were computed). */
  pushed(seriesUids: Iterable<string>, at: number): void {
    if (this.slackMs <= 0) return;
    if (this.#lastPush.size > 10_000) {
      for (const [uid, t] of this.#lastPush) if (at - t >= this.slackMs) this.#lastPush.delete(uid);
    }
    for (const uid of seriesUids) this.#lastPush.set(uid, at);
  }
}

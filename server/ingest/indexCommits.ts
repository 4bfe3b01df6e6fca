import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { indexInstances, type IndexedBefore, type InstanceEntry } from '../dicomIndex/indexInstances.ts';
import type { Queue } from '../jobs/queue.ts';
import { scheduleSeriesStable, SeriesStablePushes } from '../series/seriesStableTimer.ts';

export interface IndexCommitsTuning {
  /** A batch this big is committed at once, lingering or not. */
  fullBatch: number;
  /** At most this many rows go into one commit. */
  maxBatch: number;
  /**
   * How long a row without linger may wait for stores already under way to reach the index: about one instance's
   * fsync, rename and directory fsync, the stage those stores are in.
   */
  siblingWaitMs: number;
  /** How long after stores last overlapped a lone store still counts as one of several (`early`). */
  overlapMemoryMs: number;
}

export const DEFAULT_INDEX_COMMITS_TUNING: IndexCommitsTuning = {
  fullBatch: 32,
  maxBatch: 256,
  siblingWaitMs: 3,
  overlapMemoryMs: 100,
};

export interface IndexCommitsDeps {
  config: Pick<Config, 'seriesStableSeconds' | 'overwriteInstances'>;
  db: Database;
  queue: Queue;
}

interface PendingIndex {
  entry: InstanceEntry;
  /** performance.now() after which the entry must not wait for company any longer. */
  due: number;
  /** Due as soon as no store is under way any more (an entry without linger that found some). */
  untilSiblings: boolean;
  resolve: (prev: IndexedBefore) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the index: instances stored concurrently (parallel STOW parts and requests, DIMSE associations)
 * share one commit, so a commit (and its WAL flush) is paid per batch rather than per instance. Each caller still
 * resolves only after the commit holding its row. If a batch fails, its rows are retried one commit each so one bad
 * row cannot fail the others. One per process, built by the composition root.
 *
 * Rows may linger (`submit`'s lingerMs) for company: the parts of one STOW-RS request reach the index a few ms
 * apart. A row without linger (a C-STORE, whose sender waits for each answer) is written `early` when its store is
 * the only one under way, so one association never waits for company; when other stores are under way it waits for
 * them, at most `siblingWaitMs`, as PostgreSQL's commit_delay waits only when commit_siblings other transactions
 * are active. docs/performance.md has the figures behind each rule.
 */
export class IndexCommits {
  readonly #deps: IndexCommitsDeps;
  readonly #tuning: IndexCommitsTuning;
  readonly #pushes: SeriesStablePushes;
  #pending: PendingIndex[] = [];
  #flushing = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  /** Stores that have begun and not yet submitted their row (or failed). */
  #underWay = 0;
  /** performance.now() when a store last began while another was under way, queued or committing. */
  #lastOverlapAt = -Infinity;

  constructor(deps: IndexCommitsDeps, tuning: Partial<IndexCommitsTuning> = {}) {
    this.#deps = deps;
    this.#tuning = { ...DEFAULT_INDEX_COMMITS_TUNING, ...tuning };
    this.#pushes = new SeriesStablePushes(deps.config.seriesStableSeconds);
  }

  /**
   * Counts a store as under way until the returned `leave` is called (only the first call counts). submit calls it
   * without rescheduling, before queueing the row, so the row neither waits for its own store nor misses the flush
   * that its leaving makes due.
   */
  enter(): (reschedule?: boolean) => void {
    if (this.#underWay > 0 || this.#flushing || this.#pending.length > 0) this.#lastOverlapAt = performance.now();
    this.#underWay++;
    let left = false;
    return (reschedule = true) => {
      if (left) return;
      left = true;
      this.#underWay--;
      if (reschedule && this.#underWay === 0) this.#schedule();
    };
  }

  /** Queues a row; resolves with what the index had for the instance once the commit holding it is done. */
  submit(entry: InstanceEntry, lingerMs = 0, leave?: (reschedule?: boolean) => void): Promise<IndexedBefore> {
    leave?.(false);
    return new Promise((resolve, reject) => {
      const untilSiblings = lingerMs === 0 && this.#underWay > 0;
      const wait = untilSiblings ? this.#tuning.siblingWaitMs : lingerMs;
      this.#pending.push({ entry, due: performance.now() + wait, untilSiblings, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Writes the row of a store that is alone (no other store under way, nothing queued or committing) while its
   * file is still being fsynced and moved into place: one transaction that commits only once `placed` resolves,
   * and rolls back if it rejects, so a row never becomes durable before its file. Only while stores have not
   * overlapped for `overlapMemoryMs`: an open transaction held over one store's fsyncs would keep the others'
   * rows out of the shared commit. Returns undefined when the store is not alone (or lingers): it submits after
   * placement instead.
   */
  early(
    entry: InstanceEntry,
    lingerMs: number,
    placed: Promise<void>,
    leave: (reschedule?: boolean) => void,
  ): Promise<IndexedBefore> | undefined {
    if (lingerMs > 0 || this.#underWay !== 1 || this.#flushing || this.#pending.length > 0) return undefined;
    if (performance.now() - this.#lastOverlapAt < this.#tuning.overlapMemoryMs) return undefined;
    leave(false);
    this.#flushing = true;
    const written = this.#commit([entry], placed).then(([prev]) => prev);
    const next = (): void => {
      this.#flushing = false;
      this.#schedule();
    };
    written.then(next, next);
    return written;
  }

  /** Starts a flush now if a batch is due, else arms the timer for the earliest deadline. */
  #schedule(): void {
    if (this.#flushing || this.#pending.length === 0) return;
    const now = performance.now();
    let due = Infinity;
    for (const p of this.#pending) due = Math.min(due, p.untilSiblings && this.#underWay === 0 ? now : p.due);
    if (this.#pending.length >= this.#tuning.fullBatch || due <= now) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerDue = Infinity;
      void this.#flush();
      return;
    }
    if (this.#timer && this.#timerDue <= due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerDue = Infinity;
        this.#schedule();
      },
      Math.ceil(due - now),
    );
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      const batch = this.#pending.splice(0, this.#tuning.maxBatch);
      try {
        const prevs = await this.#commit(batch.map((b) => b.entry));
        batch.forEach((b, i) => b.resolve(prevs[i]));
      } catch (batchError) {
        if (batch.length === 1) {
          batch[0].reject(batchError);
        } else {
          for (const b of batch) {
            try {
              const [prev] = await this.#commit([b.entry]);
              b.resolve(prev);
            } catch (e) {
              b.reject(e);
            }
          }
        }
      }
    } finally {
      this.#flushing = false;
      this.#schedule();
    }
  }

  /**
   * Writes the rows, and pushes the quiet-period timers that are due in the same transaction. Most batches have no
   * timer due (SeriesStablePushes) and no instance twice: their one statement commits on its own. With `placed`
   * (early), the transaction waits for it before committing.
   */
  async #commit(entries: InstanceEntry[], placed?: Promise<void>): Promise<IndexedBefore[]> {
    const at = performance.now();
    const series = new Set<string>();
    for (const e of entries) if (e.volumeImage) series.add(e.header.seriesInstanceUid);
    const due = this.#pushes.due(series, at);
    const rounds = distinctRounds(entries);
    const overwrite = this.#deps.config.overwriteInstances;
    let prevs: IndexedBefore[];
    if (placed === undefined && rounds.length === 1 && due.length === 0) {
      prevs = await indexInstances(this.#deps.db, entries, overwrite);
    } else {
      prevs = await this.#deps.db.transaction(async (tx) => {
        const written: IndexedBefore[] = entries.map(() => ({ previousPath: null, keptPrevious: false }));
        for (const round of rounds) {
          const roundPrevs = await indexInstances(
            tx,
            round.map((i) => entries[i]),
            overwrite,
          );
          round.forEach((i, k) => {
            written[i] = roundPrevs[k];
          });
        }
        for (const uid of due.sort()) await scheduleSeriesStable(this.#deps, uid, tx, undefined, this.#pushes.slackMs);
        await placed;
        return written;
      });
    }
    this.#pushes.pushed(due, at);
    return prevs;
  }
}

/**
 * The batch's indexes split into rounds of distinct SOP Instance UIDs. One statement must not touch a row twice, so
 * the same instance twice in a batch (sent twice at once) goes in a later round, which then sees the earlier copy
 * as the previous one, as one by one would.
 */
function distinctRounds(entries: InstanceEntry[]): number[][] {
  const rounds: number[][] = [];
  const roundOf = new Map<string, number>();
  entries.forEach((e, i) => {
    const uid = e.header.sopInstanceUid;
    const r = (roundOf.get(uid) ?? -1) + 1;
    roundOf.set(uid, r);
    (rounds[r] ??= []).push(i);
  });
  return rounds;
}

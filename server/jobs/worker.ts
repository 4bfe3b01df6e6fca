import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { CHANNEL_CANCEL, CHANNEL_NEW_JOB, type Job, type Queue } from './queue.ts';
import type { TaskHandler, TaskList } from './task.ts';
import { coerceError } from '../errors.ts';

export interface WorkerOptions {
  queue: Queue;
  db: Database;
  tasks: TaskList;
  logger: Logger;
  concurrency: number;
  /** How often an idle worker looks for due jobs without being woken by NOTIFY. */
  pollIntervalMs?: number;
  leaseSeconds?: number;
  workerId?: string;
}

interface Running {
  job: Job;
  controller: AbortController;
  /**
   * Why the job was aborted, when it was. 'lease-unconfirmed': the database could not be reached to renew the
   * lease before it would lapse, so another worker may soon claim the job.
   */
  abortReason?: 'cancelled' | 'lease-lost' | 'lease-unconfirmed' | 'shutdown';
  done: Promise<void>;
}

/**
 * Claims and runs jobs. Each running job holds a lease that a timer renews; a lost lease or a cancel request
 * aborts the job's AbortSignal. Logs are buffered and written in batches so a chatty engine does not turn every
 * stdout line into a database round trip.
 */
export class Worker {
  readonly id: string;
  readonly #queue: Queue;
  readonly #db: Database;
  readonly #tasks: TaskList;
  readonly #logger: Logger;
  readonly #concurrency: number;
  readonly #pollIntervalMs: number;
  readonly #leaseSeconds: number;
  readonly #running = new Map<string, Running>();
  #stopping = false;
  #started = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #unlisten: Array<() => Promise<void>> = [];
  #lastLoopAt = 0;

  constructor(options: WorkerOptions) {
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#queue = options.queue;
    this.#db = options.db;
    this.#tasks = options.tasks;
    this.#logger = options.logger.child({ worker: this.id });
    this.#concurrency = options.concurrency;
    this.#pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.#leaseSeconds = options.leaseSeconds ?? 60;
  }

  get kinds(): string[] {
    return Object.keys(this.#tasks);
  }

  /** Alive = the claim loop went round recently (for /healthz). */
  status(): { alive: boolean; running: number; concurrency: number; lastLoopAt: Date | null } {
    const alive = this.#started && !this.#stopping && Date.now() - this.#lastLoopAt < this.#pollIntervalMs * 3 + 5000;
    return {
      alive,
      running: this.#running.size,
      concurrency: this.#concurrency,
      lastLoopAt: this.#lastLoopAt ? new Date(this.#lastLoopAt) : null,
    };
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const wake = (): void => this.#wake?.();
    try {
      this.#unlisten.push(await this.#db.listen(CHANNEL_NEW_JOB, wake));
      this.#unlisten.push(
        await this.#db.listen(CHANNEL_CANCEL, (jobId) => {
          const r = this.#running.get(jobId);
          if (r) this.#abort(r, 'cancelled');
        }),
      );
    } catch (err) {
      // NOTIFY is only a latency hint; polling still finds every job.
      this.#logger.warn({ err: (err as Error).message }, 'LISTEN failed; relying on polling');
    }
    this.#loop = this.#run();
  }

  /**
   * Stops claiming, lets running jobs finish for up to `graceMs`, then aborts them and gives their jobs back
   * to the queue so another worker (or this one after a restart) runs them.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.#started || this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    const all = (): Promise<void[]> => Promise.all([...this.#running.values()].map((r) => r.done));
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const r of this.#running.values()) this.#abort(r, 'shutdown');
      await all();
    }
    await this.#loop;
    for (const u of this.#unlisten) await u().catch(() => undefined);
    this.#unlisten = [];
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.#lastLoopAt = Date.now();
      let claimed = false;
      if (this.#running.size < this.#concurrency && this.kinds.length > 0) {
        try {
          // Taken before the claim is sent: the lease the database grants runs at least this long from here.
          const sentAt = performance.now();
          const job = await this.#queue.claim(this.id, this.kinds, this.#leaseSeconds);
          if (job) {
            claimed = true;
            this.#startJob(job, sentAt + this.#leaseSeconds * 1000);
          }
        } catch (err) {
          this.#logger.error({ err: (err as Error).message }, 'claiming a job failed; retrying');
        }
      }
      if (claimed && this.#running.size < this.#concurrency) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#pollIntervalMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #abort(r: Running, reason: NonNullable<Running['abortReason']>): void {
    if (r.controller.signal.aborted) return;
    r.abortReason = reason;
    r.controller.abort(new Error(reason === 'cancelled' ? 'cancelled by request' : reason));
  }

  #startJob(job: Job, leaseUntil: number): void {
    const controller = new AbortController();
    const running: Running = { job, controller, done: Promise.resolve() };
    this.#running.set(job.id, running);
    running.done = this.#execute(running, leaseUntil).finally(() => {
      this.#running.delete(job.id);
      this.#wake?.();
    });
  }

  /**
   * Records a job's outcome (complete, fail, cancel, release). A database that is briefly unreachable
   * (restart, failover) must not lose the outcome of finished work, nor crash the process with an unhandled
   * rejection: the call is retried until the database answers. While the worker is stopping it gives up after
   * a few tries; the job keeps its lease, which lapses, and it runs again elsewhere, so nothing is lost.
   */
  async #record(what: string, logger: Logger, call: () => Promise<boolean>): Promise<boolean | undefined> {
    let delay = 250;
    let triesWhileStopping = 0;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (this.#stopping && ++triesWhileStopping > 5) {
          logger.error(
            { err: (err as Error).message },
            `could not record that the ${what}; the job will run again once its lease lapses`,
          );
          return undefined;
        }
        logger.warn({ err: (err as Error).message, retryInMs: delay }, `recording that the ${what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async #execute(r: Running, claimLeaseUntil: number): Promise<void> {
    const { job, controller } = r;
    const logger = this.#logger.child({ jobId: job.id, kind: job.kind, attempt: job.attempts });
    const handler = this.#tasks[job.kind] as TaskHandler<Record<string, unknown>> | undefined;

    let pending: string[] = [];
    let flushing: Promise<void> = Promise.resolve();
    const flush = (): Promise<void> => {
      if (pending.length === 0) return flushing;
      const lines = pending;
      pending = [];
      flushing = flushing
        .then(() => this.#queue.appendLog(job.id, job.attempts, lines))
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'writing the job log failed'));
      return flushing;
    };
    const flushTimer = setInterval(() => void flush(), 1000);

    // Lease keeping. `leaseUntil` is a local, monotonic lower bound of the lease's expiry in the database
    // (request send time + lease length). A renewal is due every third of the lease and retried sooner when it
    // failed. If the database cannot confirm the lease before the last quarter of it begins, the job is aborted
    // here, so it has stopped before the lease lapses and another worker may claim it: a database outage longer
    // than the lease must not let two workers run one job at the same time.
    const leaseMs = this.#leaseSeconds * 1000;
    let leaseUntil = claimLeaseUntil;
    let leaseTimer: NodeJS.Timeout | undefined;
    let leaseKept = true;
    const renew = (): void => {
      const sentAt = performance.now();
      this.#queue
        .renew(job.id, this.id, this.#leaseSeconds)
        .then(({ ok, cancelRequested }) => {
          if (!ok) this.#abort(r, 'lease-lost');
          else {
            leaseUntil = Math.max(leaseUntil, sentAt + leaseMs);
            if (cancelRequested) this.#abort(r, 'cancelled');
          }
          return Math.max(250, leaseMs / 3);
        })
        .catch((err: unknown) => {
          logger.warn({ err: (err as Error).message }, 'lease renewal failed; retrying');
          return Math.max(100, Math.min(1000, leaseMs / 12));
        })
        .then((nextInMs) => {
          if (leaseKept) leaseTimer = setTimeout(renew, nextInMs);
        });
    };
    leaseTimer = setTimeout(renew, Math.max(250, leaseMs / 3));
    const watchdog = setInterval(
      () => {
        if (r.controller.signal.aborted || performance.now() < leaseUntil - leaseMs / 4) return;
        logger.warn(
          "the database has not confirmed this job's lease in time; stopping the job before the lease lapses",
        );
        this.#abort(r, 'lease-unconfirmed');
      },
      Math.max(50, Math.min(1000, leaseMs / 20)),
    );
    const stopLeaseKeeping = (): void => {
      leaseKept = false;
      clearTimeout(leaseTimer);
      clearInterval(watchdog);
    };

    // The handler runs first; its outcome is recorded afterwards, so a failure to record it (the database is
    // down) is never mistaken for a failure of the job.
    let error: Error | undefined;
    try {
      if (!handler) throw Object.assign(new Error(`no task handler for kind "${job.kind}"`), { retryable: false });
      logger.info('job started');
      await handler(
        { id: job.id, kind: job.kind, payload: job.payload, attempt: job.attempts, maxAttempts: job.maxAttempts },
        {
          db: this.#db,
          signal: controller.signal,
          logger,
          // Progress is shown, not relied on: an update lost to a database blip must not fail a long job.
          progress: (percent, status) =>
            this.#queue
              .progress(job.id, this.id, percent, status)
              .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'progress update failed')),
          log: (line) => {
            pending.push(line);
            if (pending.length >= 200) void flush();
          },
          setEngine: (name) => this.#queue.setEngine(job.id, name),
        },
      );
    } catch (err) {
      error = coerceError(err);
      pending.push(`error: ${error.message}`);
    }
    // The handler has stopped: nothing is left for the watchdog to stop.
    clearInterval(watchdog);
    clearInterval(flushTimer);
    await flush();

    try {
      // The lease is still kept while the outcome is recorded, so a slow database does not let it lapse.
      const reason = r.abortReason;
      if (reason === 'cancelled') {
        if (await this.#record('job was cancelled', logger, () => this.#queue.markCancelled(job.id, this.id)))
          logger.info('job cancelled');
      } else if (reason === 'shutdown') {
        if (await this.#record('job was given back', logger, () => this.#queue.release(job.id, this.id))) {
          logger.info('job released for another worker (shutdown)');
        }
      } else if (!error) {
        // Also after 'lease-unconfirmed' or 'lease-lost': work that went through to the end is recorded if this
        // worker still holds the job; `false` means another worker took it over after the lease lapsed.
        const done = await this.#record('job succeeded', logger, () => this.#queue.complete(job.id, this.id));
        if (done) logger.info('job succeeded');
        else if (done === false)
          logger.warn('job finished, but another worker had taken it over after its lease lapsed');
      } else if (reason === 'lease-lost') {
        logger.warn('job aborted: its lease was taken over');
      } else if (reason === 'lease-unconfirmed') {
        // Stopped only because the database was unreachable, not through any fault of the job: given back
        // without counting the attempt, unless the lease lapsed and another worker has it already.
        if (await this.#record('job was given back', logger, () => this.#queue.release(job.id, this.id))) {
          logger.info('job given back to the queue: the database was unreachable while it ran');
        }
      } else {
        const retryable = (error as { retryable?: unknown }).retryable !== false;
        await this.#record('job failed', logger, () => this.#queue.fail(job.id, this.id, error.message, retryable));
        logger.warn({ err: error.message, retryable }, 'job failed');
      }
    } finally {
      stopLeaseKeeping();
    }
  }
}

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { CHANNEL_CANCEL, CHANNEL_NEW_JOB, type Job, type Queue } from './queue.ts';
import type { TaskHandler, TaskList } from './task.ts';

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
  /** Why the job was aborted, when it was. */
  abortReason?: 'cancelled' | 'lease-lost' | 'shutdown';
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
          const job = await this.#queue.claim(this.id, this.kinds, this.#leaseSeconds);
          if (job) {
            claimed = true;
            this.#startJob(job);
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

  #startJob(job: Job): void {
    const controller = new AbortController();
    const running: Running = { job, controller, done: Promise.resolve() };
    this.#running.set(job.id, running);
    running.done = this.#execute(running).finally(() => {
      this.#running.delete(job.id);
      this.#wake?.();
    });
  }

  async #execute(r: Running): Promise<void> {
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
    const renewTimer = setInterval(
      () => {
        this.#queue
          .renew(job.id, this.id, this.#leaseSeconds)
          .then(({ ok, cancelRequested }) => {
            if (!ok) this.#abort(r, 'lease-lost');
            else if (cancelRequested) this.#abort(r, 'cancelled');
          })
          .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'lease renewal failed'));
      },
      Math.max(250, (this.#leaseSeconds * 1000) / 3),
    );

    try {
      if (!handler) throw Object.assign(new Error(`no task handler for kind "${job.kind}"`), { retryable: false });
      logger.info('job started');
      await handler(
        { id: job.id, kind: job.kind, payload: job.payload, attempt: job.attempts, maxAttempts: job.maxAttempts },
        {
          db: this.#db,
          signal: controller.signal,
          logger,
          progress: (percent, status) => this.#queue.progress(job.id, this.id, percent, status),
          log: (line) => {
            pending.push(line);
            if (pending.length >= 200) void flush();
          },
          setEngine: (name) => this.#queue.setEngine(job.id, name),
        },
      );
      clearInterval(renewTimer);
      await flush();
      if (r.abortReason === 'cancelled') await this.#queue.markCancelled(job.id, this.id);
      else if (r.abortReason === 'shutdown') await this.#queue.release(job.id, this.id);
      else if (!(await this.#queue.complete(job.id, this.id))) logger.warn('job finished after its lease was lost');
      else logger.info('job succeeded');
    } catch (err) {
      clearInterval(renewTimer);
      const error = coerceError(err);
      pending.push(`error: ${error.message}`);
      await flush();
      if (r.abortReason === 'cancelled') {
        await this.#queue.markCancelled(job.id, this.id);
        logger.info('job cancelled');
      } else if (r.abortReason === 'shutdown') {
        await this.#queue.release(job.id, this.id);
        logger.info('job released for another worker (shutdown)');
      } else if (r.abortReason === 'lease-lost') {
        logger.warn('job aborted: its lease was taken over');
      } else {
        const retryable = (error as { retryable?: unknown }).retryable !== false;
        await this.#queue.fail(job.id, this.id, error.message, retryable);
        logger.warn({ err: error.message, retryable }, 'job failed');
      }
    } finally {
      clearInterval(flushTimer);
      clearInterval(renewTimer);
    }
  }
}

/** Anything thrown becomes an Error (a task that rejects with a string still reports it). */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(err)}`, { cause: err });
  } catch {
    return new Error('non-error thrown', { cause: err });
  }
}

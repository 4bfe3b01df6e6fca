import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';

/** A job as a task handler sees it. */
export interface TaskJob<P = Record<string, unknown>> {
  id: string;
  kind: string;
  payload: P;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
}

export interface TaskHelpers {
  db: Database;
  /** Aborted when the job is cancelled, its lease is lost, or the worker shuts down. */
  signal: AbortSignal;
  /** Sets progress (0-100) and the status text shown in the queue. */
  progress(percent: number, status: string): Promise<void>;
  /** Appends a line to the job's log (kept in the database; never put patient data here). */
  log(line: string): void;
  /** Records which engine runs this job (shown in the queue). */
  setEngine(name: string): Promise<void>;
  logger: Logger;
}

/**
 * A task fails by throwing. An error with `retryable === false` fails the job at once
 * (bad input will not get better by retrying); any other error is retried with backoff.
 */
export type TaskHandler<P = Record<string, unknown>> = (job: TaskJob<P>, helpers: TaskHelpers) => Promise<void>;

export type TaskList = Record<string, TaskHandler<never>>;

export { PermanentError } from '../errors.ts';

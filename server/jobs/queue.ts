import type { Database, Queryable } from '../db/database.ts';
import type { PayloadOf } from './kinds.ts';

/**
 * The durable job queue (SQL first, in the manner of graphile-worker). Terminology:
 * - job: one row of `jobs`; `kind` names the task that runs it.
 * - claim: a worker takes the oldest due job with FOR UPDATE SKIP LOCKED and holds a lease on it.
 * - lease: `lease_owner` + `lease_expires_at`; renewed while the job runs. A lapsed lease (the worker died)
 *   makes the job claimable again, so work is never lost with a machine.
 * - NOTIFY on `jobs_new` only wakes idle workers early; polling remains the truth.
 */

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const CHANNEL_NEW_JOB = 'jobs_new';
export const CHANNEL_JOB_CHANGED = 'jobs_changed';
export const CHANNEL_CANCEL = 'jobs_cancel';

export interface Job<P = Record<string, unknown>> {
  id: string;
  kind: string;
  payload: P;
  state: JobState;
  key: string | null;
  attempts: number;
  maxAttempts: number;
  runAfter: Date;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  cancelRequested: boolean;
  progress: number;
  status: string | null;
  lastError: string | null;
  engine: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface JobRow {
  id: string;
  kind: string;
  payload: unknown;
  state: JobState;
  job_key: string | null;
  attempts: number;
  max_attempts: number;
  run_after: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  cancel_requested: boolean;
  progress: number;
  status: string | null;
  last_error: string | null;
  engine: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

function toJob(r: JobRow): Job {
  const payload = typeof r.payload === 'string' ? (JSON.parse(r.payload) as unknown) : r.payload;
  return {
    id: r.id,
    kind: r.kind,
    payload: (payload ?? {}) as Record<string, unknown>,
    state: r.state,
    key: r.job_key,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAfter: r.run_after,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequested: r.cancel_requested,
    progress: r.progress,
    status: r.status,
    lastError: r.last_error,
    engine: r.engine,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export interface AddJobOptions {
  maxAttempts?: number;
  runAfter?: Date;
  /**
   * Debounce key: while a job with this key is still queued, adding another replaces its payload and
   * run-after instead of creating a second job (a series' quiet-period timer is pushed back this way).
   */
  key?: string;
}

export interface QueueOptions {
  /** First retry delay; doubles per attempt. */
  backoffBaseSeconds?: number;
  backoffMaxSeconds?: number;
  /** How often claim() looks for running jobs that lost their worker with no attempts left. */
  sweepIntervalMs?: number;
}

export interface ListJobsOptions {
  states?: JobState[];
  kinds?: string[];
  limit?: number;
  offset?: number;
}

export interface JobLogLine {
  at: Date;
  attempt: number;
  line: string;
}

/** Change notices carry no payload: it may name a series, and NOTIFY text is visible to every session. */
export interface JobChange {
  id: string;
  kind: string;
  state: JobState;
  progress: number;
  status: string | null;
}

const MAX_LOG_LINE = 4000;

export class Queue {
  readonly db: Database;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #sweepIntervalMs: number;
  #lastSweep = 0;

  constructor(db: Database, options: QueueOptions = {}) {
    this.db = db;
    this.#backoffBase = options.backoffBaseSeconds ?? 10;
    this.#backoffMax = options.backoffMaxSeconds ?? 3600;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 5000;
  }

  async add<K extends string>(
    kind: K,
    payload: PayloadOf<K>,
    options: AddJobOptions = {},
    tx?: Queryable,
  ): Promise<Job<PayloadOf<K>>> {
    const q = tx ?? this.db;
    const params = [
      kind,
      JSON.stringify(payload),
      options.key ?? null,
      options.maxAttempts ?? 3,
      options.runAfter ?? new Date(),
    ];
    const res = options.key
      ? await q.query<JobRow>(
          `INSERT INTO jobs (kind, payload, job_key, max_attempts, run_after)
           VALUES ($1, $2::jsonb, $3, $4, $5)
           ON CONFLICT (job_key) WHERE state = 'queued' AND job_key IS NOT NULL
           DO UPDATE SET payload = EXCLUDED.payload, run_after = EXCLUDED.run_after,
                         max_attempts = EXCLUDED.max_attempts, updated_at = now()
           RETURNING *`,
          params,
        )
      : await q.query<JobRow>(
          `INSERT INTO jobs (kind, payload, job_key, max_attempts, run_after)
           VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING *`,
          params,
        );
    const job = toJob(res.rows[0]) as Job<PayloadOf<K>>;
    // Both notifications in one statement: one round trip fewer per job (one per ingest batch, too).
    await q.query('SELECT pg_notify($1, $2), pg_notify($3, $4)', [
      CHANNEL_NEW_JOB,
      kind,
      CHANNEL_JOB_CHANGED,
      JSON.stringify(jobChange(job)),
    ]);
    return job;
  }

  /**
   * Takes the oldest due job of the given kinds, or a running one whose lease lapsed (its worker died).
   */
  async claim(workerId: string, kinds: string[], leaseSeconds: number): Promise<Job | undefined> {
    // Lapsed leases are rare; looking for exhausted ones once every few seconds is plenty.
    if (Date.now() - this.#lastSweep >= this.#sweepIntervalMs) {
      this.#lastSweep = Date.now();
      await this.#failExhausted(kinds);
    }
    const res = await this.db.query<JobRow>(
      `WITH next AS (
         SELECT id FROM jobs
          WHERE kind = ANY($1::text[])
            AND ((state = 'queued' AND run_after <= now())
              OR (state = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
          ORDER BY run_after, created_at
          LIMIT 1
          FOR UPDATE SKIP LOCKED
       )
       UPDATE jobs j
          SET state = 'running', attempts = j.attempts + 1, lease_owner = $2,
              lease_expires_at = now() + make_interval(secs => $3), cancel_requested = false,
              started_at = now(), finished_at = NULL, progress = 0, status = 'starting', updated_at = now()
         FROM next
        WHERE j.id = next.id
       RETURNING j.*`,
      [kinds, workerId, leaseSeconds],
    );
    if (res.rowCount === 0) return undefined;
    const job = toJob(res.rows[0]);
    await this.#notifyChange(job);
    return job;
  }

  /** Running jobs whose lease lapsed with no attempts left: a job that kills its worker must not loop forever. */
  async #failExhausted(kinds: string[]): Promise<void> {
    const lost = await this.db.query<JobRow>(
      `UPDATE jobs SET state = 'failed', finished_at = now(), updated_at = now(), lease_owner = NULL,
              lease_expires_at = NULL,
              last_error = coalesce(last_error || ' / ', '') || 'the worker running this job stopped responding (attempt ' || attempts || ' of ' || max_attempts || ')'
        WHERE state = 'running' AND lease_expires_at < now() AND attempts >= max_attempts AND kind = ANY($1::text[])
        RETURNING *`,
      [kinds],
    );
    for (const r of lost.rows) await this.#notifyChange(toJob(r));
  }

  /** Extends the lease. `ok` false means another worker took the job over: stop working on it. */
  async renew(
    jobId: string,
    workerId: string,
    leaseSeconds: number,
  ): Promise<{ ok: boolean; cancelRequested: boolean }> {
    const res = await this.db.query<{ cancel_requested: boolean }>(
      `UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'running'
       RETURNING cancel_requested`,
      [jobId, workerId, leaseSeconds],
    );
    if (res.rowCount === 0) return { ok: false, cancelRequested: false };
    return { ok: true, cancelRequested: res.rows[0].cancel_requested };
  }

  async progress(jobId: string, workerId: string, percent: number, status: string): Promise<void> {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    const res = await this.db.query<JobRow>(
      `UPDATE jobs SET progress = $3, status = $4, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING *`,
      [jobId, workerId, p, status.slice(0, 500)],
    );
    if (res.rowCount) await this.#notifyChange(toJob(res.rows[0]));
  }

  async setEngine(jobId: string, engine: string): Promise<void> {
    await this.db.query('UPDATE jobs SET engine = $2, updated_at = now() WHERE id = $1', [jobId, engine]);
  }

  /** Marks a job done. False when this worker no longer holds it. */
  async complete(jobId: string, workerId: string): Promise<boolean> {
    return this.#finish(
      `UPDATE jobs SET state = 'succeeded', progress = 100, status = 'done', finished_at = now(), updated_at = now(),
              lease_owner = NULL, lease_expires_at = NULL, last_error = NULL
        WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING *`,
      [jobId, workerId],
    );
  }

  /**
   * Records a failure. With attempts left and a retryable error the job goes back to the queue after an
   * exponential backoff; otherwise it ends `failed` with the error kept.
   */
  async fail(jobId: string, workerId: string, message: string, retryable: boolean): Promise<boolean> {
    return this.#finish(
      `UPDATE jobs
          SET state = CASE WHEN $4::boolean AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
              run_after = CASE WHEN $4::boolean AND attempts < max_attempts
                               THEN now() + make_interval(secs => least($5::float8 * power(2, attempts - 1), $6::float8))
                               ELSE run_after END,
              finished_at = CASE WHEN $4::boolean AND attempts < max_attempts THEN NULL ELSE now() END,
              status = CASE WHEN $4::boolean AND attempts < max_attempts THEN 'waiting to retry' ELSE 'failed' END,
              last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING *`,
      [jobId, workerId, message.slice(0, 8000), retryable, this.#backoffBase, this.#backoffMax],
    );
  }

  /** The worker stopped a job because it was asked to cancel it. */
  async markCancelled(jobId: string, workerId: string): Promise<boolean> {
    return this.#finish(
      `UPDATE jobs SET state = 'cancelled', status = 'cancelled', finished_at = now(), updated_at = now(),
              lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING *`,
      [jobId, workerId],
    );
  }

  /** Gives a job back without counting the attempt (graceful shutdown). */
  async release(jobId: string, workerId: string): Promise<boolean> {
    return this.#finish(
      `UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
              status = 'waiting (worker stopped)', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING *`,
      [jobId, workerId],
    );
  }

  /**
   * Cancels a job: a queued one at once; a running one is flagged and its worker aborts it (woken through
   * NOTIFY, or at its next lease renewal at the latest). Returns undefined for an unknown id.
   */
  async cancel(id: string): Promise<Job | undefined> {
    const res = await this.db.query<JobRow>(
      `UPDATE jobs
          SET state = CASE WHEN state = 'queued' OR (state = 'running' AND lease_expires_at < now())
                           THEN 'cancelled' ELSE state END,
              status = CASE WHEN state = 'running' AND lease_expires_at >= now() THEN 'cancelling' ELSE 'cancelled' END,
              finished_at = CASE WHEN state = 'queued' OR (state = 'running' AND lease_expires_at < now())
                                 THEN now() ELSE finished_at END,
              cancel_requested = (state = 'running'),
              updated_at = now()
        WHERE id = $1 AND state IN ('queued', 'running')
       RETURNING *`,
      [id],
    );
    if (res.rowCount === 0) return this.get(id);
    const job = toJob(res.rows[0]);
    if (job.state === 'running') await this.db.query('SELECT pg_notify($1, $2)', [CHANNEL_CANCEL, id]);
    await this.#notifyChange(job);
    return job;
  }

  /** Puts a failed or cancelled job back in the queue with a fresh set of attempts. */
  async retry(id: string): Promise<Job | undefined> {
    const res = await this.db.query<JobRow>(
      `UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), progress = 0, status = 'queued for retry',
              finished_at = NULL, cancel_requested = false, updated_at = now(), retries = retries + 1,
              cleared_at = NULL
        WHERE id = $1 AND state IN ('failed', 'cancelled')
       RETURNING *`,
      [id],
    );
    if (res.rowCount === 0) return this.get(id);
    const job = toJob(res.rows[0]);
    await this.db.query('SELECT pg_notify($1, $2)', [CHANNEL_NEW_JOB, job.kind]);
    await this.#notifyChange(job);
    return job;
  }

  /**
   * Clears finished, failed and cancelled jobs from the queue view (the rows stay; migration 0010). Returns the ids
   * cleared; jobs still queued or running are left as they are.
   */
  async clear(ids: readonly string[]): Promise<string[]> {
    const usable = ids.filter(isUuid);
    if (usable.length === 0) return [];
    const res = await this.db.query<{ id: string }>(
      `UPDATE jobs SET cleared_at = now()
        WHERE id = ANY($1::uuid[]) AND state IN ('succeeded', 'failed', 'cancelled') AND cleared_at IS NULL
       RETURNING id`,
      [usable],
    );
    return res.rows.map((r) => r.id);
  }

  async get(id: string): Promise<Job | undefined> {
    if (!isUuid(id)) return undefined;
    const res = await this.db.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return res.rows[0] ? toJob(res.rows[0]) : undefined;
  }

  async list(options: ListJobsOptions = {}): Promise<Job[]> {
    const res = await this.db.query<JobRow>(
      `SELECT * FROM jobs
        WHERE ($1::text[] IS NULL OR state = ANY($1::text[]))
          AND ($2::text[] IS NULL OR kind = ANY($2::text[]))
        ORDER BY created_at DESC, id
        LIMIT $3 OFFSET $4`,
      [options.states ?? null, options.kinds ?? null, Math.min(options.limit ?? 100, 1000), options.offset ?? 0],
    );
    return res.rows.map(toJob);
  }

  async counts(kinds?: string[]): Promise<Record<JobState, number>> {
    const res = await this.db.query<{ state: JobState; n: number }>(
      `SELECT state, count(*)::int AS n FROM jobs WHERE ($1::text[] IS NULL OR kind = ANY($1::text[])) GROUP BY state`,
      [kinds ?? null],
    );
    const counts: Record<JobState, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const r of res.rows) counts[r.state] = r.n;
    return counts;
  }

  async appendLog(jobId: string, attempt: number, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.db.query(`INSERT INTO job_log (job_id, attempt, line) SELECT $1, $2, unnest($3::text[])`, [
      jobId,
      attempt,
      lines.map((l) => (l.length > MAX_LOG_LINE ? `${l.slice(0, MAX_LOG_LINE)}…` : l)),
    ]);
  }

  async log(jobId: string, limit = 5000): Promise<JobLogLine[]> {
    if (!isUuid(jobId)) return [];
    const res = await this.db.query<{ at: Date; attempt: number; line: string }>(
      `SELECT at, attempt, line FROM (
         SELECT id, at, attempt, line FROM job_log WHERE job_id = $1 ORDER BY id DESC LIMIT $2
       ) recent ORDER BY id`,
      [jobId, limit],
    );
    return res.rows;
  }

  async #finish(sql: string, params: (string | number | boolean)[]): Promise<boolean> {
    const res = await this.db.query<JobRow>(sql, params);
    if (res.rowCount === 0) return false;
    await this.#notifyChange(toJob(res.rows[0]));
    return true;
  }

  async #notifyChange(job: JobChange, q: Queryable = this.db): Promise<void> {
    await q.query('SELECT pg_notify($1, $2)', [CHANNEL_JOB_CHANGED, JSON.stringify(jobChange(job))]);
  }
}

/** What listeners of CHANNEL_JOB_CHANGED get: the job's identity and state, never its payload. */
function jobChange(job: JobChange): JobChange {
  return { id: job.id, kind: job.kind, state: job.state, progress: job.progress, status: job.status };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

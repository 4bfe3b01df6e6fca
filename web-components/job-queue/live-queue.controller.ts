import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { postJson, type CollectingSeries, type LiveJob, type QueueCounts } from '../shared/api.ts';
import { subscribeLive } from '../shared/live-events.ts';

export type AgJobChangeEvent = CustomEvent<{ job: LiveJob }>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-job-change': AgJobChangeEvent;
  }
}

export type JobAction = 'cancel' | 'retry' | 'clear';

/**
 * The live queue's state, pushed by Server-Sent Events from /api/events (no polling): jobs, counts, the series being
 * received, and the actions on jobs with their outcome per job. Announces every job change on the host
 * (`ag-job-change`) so other parts of the page (the upload list) can follow their jobs.
 */
export class LiveQueueController implements ReactiveController {
  jobs = new Map<string, LiveJob>();
  counts: QueueCounts | undefined;
  collecting: CollectingSeries[] = [];
  connection: 'connecting' | 'live' | 'reconnecting' = 'connecting';
  /** Per job: what the last action said (an error, or a retry that failed again). */
  notes = new Map<string, { text: string; error: boolean }>();
  pending = new Set<string>();
  now = Date.now();

  readonly #host: ReactiveControllerHost & HTMLElement;
  #unsubscribe: (() => void) | undefined;
  #clock: ReturnType<typeof setInterval> | undefined;
  /** Jobs retried from this page: when one fails again, its row says so. */
  readonly #retried = new Set<string>();

  constructor(host: ReactiveControllerHost & HTMLElement) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {
    this.#unsubscribe = subscribeLive({
      snapshot: ({ jobs, counts, collecting }) => {
        this.jobs = new Map(jobs.map((j) => [j.id, j]));
        this.counts = counts;
        this.collecting = collecting ?? [];
        for (const job of jobs) this.#announce(job);
        this.#host.requestUpdate();
      },
      job: (job) => {
        this.jobs = new Map(this.jobs).set(job.id, job);
        this.#noteRetryOutcome(job);
        this.#announce(job);
        this.#host.requestUpdate();
      },
      counts: (counts) => {
        this.counts = counts;
        this.#host.requestUpdate();
      },
      collecting: ({ series }) => {
        this.collecting = series;
        this.#host.requestUpdate();
      },
      connection: (c) => {
        this.connection = c;
        this.#host.requestUpdate();
      },
    });
    // Elapsed times and "starts in" tick once a second; nothing else polls.
    this.#clock = setInterval(() => {
      const ticking =
        this.collecting.length > 0 ||
        [...this.jobs.values()].some((j) => j.state === 'running' || j.state === 'queued');
      if (!ticking) return;
      this.now = Date.now();
      this.#host.requestUpdate();
    }, 1000);
  }

  hostDisconnected(): void {
    this.#unsubscribe?.();
    clearInterval(this.#clock);
  }

  /** Jobs newest first. */
  get sortedJobs(): LiveJob[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  async act(job: LiveJob, action: JobAction): Promise<void> {
    this.pending = new Set(this.pending).add(job.id);
    this.#setNote(job.id, undefined);
    this.#host.requestUpdate();
    try {
      if (action === 'clear') {
        await postJson('/api/jobs/clear', { ids: [job.id] });
        this.#forget([job.id]);
      } else {
        await postJson(`/api/jobs/${encodeURIComponent(job.id)}/${action}`);
        if (action === 'retry') this.#retried.add(job.id);
      }
    } catch (error) {
      this.#setNote(job.id, { text: `Could not ${action}: ${(error as Error).message}`, error: true });
    } finally {
      const pending = new Set(this.pending);
      pending.delete(job.id);
      this.pending = pending;
      this.#host.requestUpdate();
    }
  }

  /** Removes every finished, failed and cancelled job from the queue (their results stay). */
  async clearFinished(): Promise<string | undefined> {
    const ids = [...this.jobs.values()]
      .filter((j) => j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled')
      .map((j) => j.id);
    if (ids.length === 0) return undefined;
    try {
      const { cleared } = await postJson<{ cleared: string[] }>('/api/jobs/clear', { ids });
      this.#forget(cleared);
      return undefined;
    } catch (error) {
      return `Could not clear the queue: ${(error as Error).message}`;
    }
  }

  #forget(ids: readonly string[]): void {
    const jobs = new Map(this.jobs);
    for (const id of ids) jobs.delete(id);
    this.jobs = jobs;
    this.#host.requestUpdate();
  }

  #noteRetryOutcome(job: LiveJob): void {
    if (!this.#retried.has(job.id)) return;
    if (job.state === 'failed') {
      this.#retried.delete(job.id);
      this.#setNote(job.id, { text: 'The retry failed again.', error: true });
    } else if (job.state === 'succeeded' || job.state === 'cancelled') {
      this.#retried.delete(job.id);
      this.#setNote(job.id, undefined);
    }
  }

  #setNote(id: string, note: { text: string; error: boolean } | undefined): void {
    const notes = new Map(this.notes);
    if (note) notes.set(id, note);
    else notes.delete(id);
    this.notes = notes;
  }

  #announce(job: LiveJob): void {
    this.#host.dispatchEvent(new CustomEvent('ag-job-change', { detail: { job }, bubbles: true, composed: true }));
  }
}

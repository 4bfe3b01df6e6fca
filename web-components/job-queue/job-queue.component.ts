import { LitElement, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { subjectFacts } from '../shared/subject.ts';
import { postJson, type LiveJob, type QueueCounts } from '../shared/api.ts';
import { formatDuration, formatDateTime } from '../shared/format.ts';
import { subscribeLive } from '../shared/live-events.ts';
import styles from './job-queue.styles.ts';

const STATE_LABEL: Record<string, string> = {
  queued: 'Queued',
  running: 'Processing',
  succeeded: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export type AgJobChangeEvent = CustomEvent<{ job: LiveJob }>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-job-change': AgJobChangeEvent;
  }
}

/**
 * @summary The processing queue, live: pushed by Server-Sent Events from /api/events, no polling.
 * @event ag-job-change - a job was added or changed (detail.job).
 */
export class AgJobQueue extends LitElement {
  static override styles = [baseStyles, styles];

  @state() private jobs = new Map<string, LiveJob>();
  @state() private counts: QueueCounts | undefined;
  @state() private connection: 'connecting' | 'live' | 'reconnecting' = 'connecting';
  @state() private actionErrors = new Map<string, string>();
  @state() private pending = new Set<string>();
  @state() private now = Date.now();

  #unsubscribe: (() => void) | undefined;
  #clock: ReturnType<typeof setInterval> | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.#unsubscribe = subscribeLive({
      snapshot: ({ jobs, counts }) => {
        this.jobs = new Map(jobs.map((j) => [j.id, j]));
        this.counts = counts;
      },
      job: (job) => {
        this.jobs = new Map(this.jobs).set(job.id, job);
        this.dispatchEvent(new CustomEvent('ag-job-change', { detail: { job }, bubbles: true, composed: true }));
      },
      counts: (counts) => (this.counts = counts),
      connection: (c) => (this.connection = c),
    });
    // Elapsed times tick once a second; nothing else polls.
    this.#clock = setInterval(() => {
      if ([...this.jobs.values()].some((j) => j.state === 'running' || j.state === 'queued')) this.now = Date.now();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#unsubscribe?.();
    clearInterval(this.#clock);
  }

  override render() {
    const jobs = [...this.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const c = this.counts;
    return html`
      <section class="card" aria-labelledby="queue-heading">
        <div class="head">
          <h2 id="queue-heading">Processing queue</h2>
          <span class="connection" data-state=${this.connection} role="status">
            <span class="dot" aria-hidden="true"></span>
            ${this.connection === 'live' ? 'Live' : this.connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
          </span>
        </div>
        <dl class="counts" aria-label="Queue counts">
          <div>
            <dt>Added (24 h)</dt>
            <dd>${c?.added ?? '–'}</dd>
          </div>
          <div>
            <dt>Queued</dt>
            <dd>${c?.queued ?? '–'}</dd>
          </div>
          <div>
            <dt>Processing</dt>
            <dd>${c?.processing ?? '–'}</dd>
          </div>
          <div>
            <dt>Left</dt>
            <dd>${c?.left ?? '–'}</dd>
          </div>
        </dl>
        ${
          this.counts === undefined
            ? html`<p class="loading">Loading the queue…</p>`
            : jobs.length === 0
              ? html`<p class="empty">Nothing in the queue yet. Uploaded series appear here as they are processed.</p>`
              : html`<ol aria-label="Jobs">
                  ${jobs.map((j) => this.#renderJob(j))}
                </ol>`
        }
      </section>
    `;
  }

  #renderJob(job: LiveJob) {
    const title = job.displayName || job.seriesDescription || job.name || job.kind;
    const facts = subjectFacts(job.subject);
    const started = job.startedAt ? Date.parse(job.startedAt) : undefined;
    const finished = job.finishedAt ? Date.parse(job.finishedAt) : undefined;
    const elapsed =
      job.state === 'queued'
        ? `waiting ${formatDuration(this.now - Date.parse(job.createdAt))}`
        : started !== undefined
          ? `${job.state === 'running' ? 'running' : 'took'} ${formatDuration((finished ?? this.now) - started)}`
          : '';
    const busy = this.pending.has(job.id);
    const actionError = this.actionErrors.get(job.id);
    const canCancel = job.state === 'queued' || job.state === 'running';
    const canRetry = job.state === 'failed' || job.state === 'cancelled';
    return html`
      <li class="job" data-job=${job.id} data-state=${job.state}>
        <div class="title">
          <span class="name">${title}</span>
          <span class="badge" data-state=${job.state}>${STATE_LABEL[job.state] ?? job.state}</span>
        </div>
        <div class="actions">
          ${job.state === 'succeeded' ? html`<a class="button small" href="/files">View files</a>` : nothing}
          ${
            job.state === 'succeeded' && job.viewerUrl
              ? html`<a class="button small" href=${job.viewerUrl} target="_blank" rel="noopener">Open in viewer</a>`
              : nothing
          }
          ${
            canCancel
              ? html`<button
                  class="small"
                  type="button"
                  ?disabled=${busy}
                  @click=${() => this.#act(job, 'cancel')}
                  aria-label="Cancel ${title}"
                >
                  Cancel
                </button>`
              : nothing
          }
          ${
            canRetry
              ? html`<button
                  class="small"
                  type="button"
                  ?disabled=${busy}
                  @click=${() => this.#act(job, 'retry')}
                  aria-label="Retry ${title}"
                >
                  Retry
                </button>`
              : nothing
          }
        </div>
        <div class="detail">
          ${facts.length ? html`<span class="subject">${facts.join(' · ')}</span>` : nothing}
          ${job.engine ? html`<span>Engine: ${job.engine}</span>` : nothing}
          <span>${job.status ?? (job.state === 'queued' ? 'Waiting for a worker' : '')}</span>
          ${elapsed ? html`<span>${elapsed}</span>` : nothing}
          <span>Added ${formatDateTime(job.createdAt)}</span>
        </div>
        ${
          job.state === 'running' || job.state === 'queued'
            ? html`<div class="progress-line">
                <progress max="100" .value=${job.progress} aria-label="Progress of ${title}"></progress
                ><span>${job.progress}%</span>
              </div>`
            : nothing
        }
        ${job.state === 'failed' && job.error ? html`<p class="error">${job.error}</p>` : nothing}
        ${actionError ? html`<p class="error" role="alert">${actionError}</p>` : nothing}
      </li>
    `;
  }

  async #act(job: LiveJob, action: 'cancel' | 'retry'): Promise<void> {
    this.pending = new Set(this.pending).add(job.id);
    const errors = new Map(this.actionErrors);
    errors.delete(job.id);
    this.actionErrors = errors;
    try {
      await postJson(`/api/jobs/${encodeURIComponent(job.id)}/${action}`);
    } catch (error) {
      this.actionErrors = new Map(this.actionErrors).set(job.id, `Could not ${action}: ${(error as Error).message}`);
    } finally {
      const pending = new Set(this.pending);
      pending.delete(job.id);
      this.pending = pending;
    }
  }
}

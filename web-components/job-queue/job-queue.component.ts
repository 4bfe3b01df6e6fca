import { LitElement, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { subjectFacts } from '../shared/subject.ts';
import type { CollectingSeries, LiveJob } from '../shared/api.ts';
import { formatDuration, formatDateTime, plural } from '../shared/format.ts';
import { LiveQueueController } from './live-queue.controller.ts';
import styles from './job-queue.styles.ts';

export type { AgJobChangeEvent } from './live-queue.controller.ts';

const STATE_LABEL: Record<string, string> = {
  queued: 'Queued',
  running: 'Processing',
  succeeded: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

function seriesTitle(s: CollectingSeries): string {
  if (s.seriesDescription) return s.seriesDescription;
  return [s.modality, s.seriesNumber !== null ? `series ${s.seriesNumber}` : 'series'].filter(Boolean).join(' ');
}

/**
 * @summary The processing queue, live: series being received, then their jobs, pushed by Server-Sent Events from
 * /api/events (no polling). Finished, failed and cancelled jobs can be cleared from it (their results stay).
 * @event ag-job-change - a job was added or changed (detail.job).
 */
export class AgJobQueue extends LitElement {
  static override styles = [baseStyles, styles];

  readonly #queue = new LiveQueueController(this);
  @state() private clearError = '';

  override render() {
    const q = this.#queue;
    const jobs = q.sortedJobs;
    const c = q.counts;
    const finished = jobs.filter((j) => FINISHED.has(j.state)).length;
    return html`
      <section class="card" aria-labelledby="queue-heading">
        <div class="head">
          <h2 id="queue-heading">Processing queue</h2>
          <span class="head-actions">
            ${
              finished > 0
                ? html`<button class="small" type="button" @click=${this.#clearFinished}>
                    Clear finished (${finished})
                  </button>`
                : nothing
            }
            <span class="connection" data-state=${q.connection} role="status">
              <span class="dot" aria-hidden="true"></span>
              ${q.connection === 'live' ? 'Live' : q.connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
            </span>
          </span>
        </div>
        <dl class="counts" aria-label="Queue counts">
          <div>
            <dt>Added (24 h)</dt>
            <dd>${c?.added ?? '–'}</dd>
          </div>
          <div>
            <dt>Receiving</dt>
            <dd>${c ? q.collecting.length : '–'}</dd>
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
        ${this.clearError ? html`<p class="error banner" role="alert">${this.clearError}</p>` : nothing}
        ${
          c === undefined
            ? html`<p class="loading">Loading the queue…</p>`
            : jobs.length === 0 && q.collecting.length === 0
              ? html`<p class="empty">Nothing in the queue yet. Uploaded series appear here as they are received.</p>`
              : html`<ol aria-label="Jobs">
                  ${q.collecting.map((s) => this.#renderCollecting(s))} ${jobs.map((j) => this.#renderJob(j))}
                </ol>`
        }
      </section>
    `;
  }

  async #clearFinished(): Promise<void> {
    this.clearError = (await this.#queue.clearFinished()) ?? '';
  }

  #renderCollecting(s: CollectingSeries) {
    const title = seriesTitle(s);
    const wait = Math.max(0, Math.ceil((Date.parse(s.startsAt) - this.#queue.now) / 1000));
    return html`
      <li class="job" data-series=${s.seriesInstanceUid} data-state="receiving">
        <div class="title">
          <span class="name">${title}</span>
          <span class="badge" data-state="receiving">Receiving</span>
        </div>
        <div class="detail">
          <span class="receiving"
            >receiving · ${plural(s.images, 'image')} · ${wait > 0 ? `starts in ${wait} s` : 'starting'}</span
          >
          <span>Last image ${formatDateTime(s.lastInstanceAt)}</span>
        </div>
      </li>
    `;
  }

  #renderJob(job: LiveJob) {
    const q = this.#queue;
    const title = job.displayName || job.seriesDescription || job.name || job.kind;
    const facts = subjectFacts(job.subject);
    const started = job.startedAt ? Date.parse(job.startedAt) : undefined;
    const finished = job.finishedAt ? Date.parse(job.finishedAt) : undefined;
    const elapsed =
      job.state === 'queued'
        ? `waiting ${formatDuration(q.now - Date.parse(job.createdAt))}`
        : started !== undefined
          ? `${job.state === 'running' ? 'running' : 'took'} ${formatDuration((finished ?? q.now) - started)}`
          : '';
    const busy = q.pending.has(job.id);
    const note = q.notes.get(job.id);
    const canCancel = job.state === 'queued' || job.state === 'running';
    const canRetry = job.state === 'failed' || job.state === 'cancelled';
    const retries = job.retries ?? 0;
    const failedAgain = job.state === 'failed' && retries > 0;
    return html`
      <li class="job" data-job=${job.id} data-state=${job.state}>
        <div class="title">
          <span class="name">${title}</span>
          <span class="badge" data-state=${job.state}
            >${failedAgain ? 'Failed again' : (STATE_LABEL[job.state] ?? job.state)}</span
          >
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
                  @click=${() => q.act(job, 'cancel')}
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
                  @click=${() => q.act(job, 'retry')}
                  aria-label="Retry ${title}"
                >
                  Retry
                </button>`
              : nothing
          }
          ${
            FINISHED.has(job.state)
              ? html`<button
                  class="small"
                  type="button"
                  ?disabled=${busy}
                  @click=${() => q.act(job, 'clear')}
                  aria-label="Clear ${title} from the queue"
                >
                  Clear
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
          ${retries > 0 ? html`<span>${plural(retries, 'retry', 'retries')}</span>` : nothing}
        </div>
        ${
          job.state === 'running' || job.state === 'queued'
            ? html`<div class="progress-line">
                <progress max="100" .value=${job.progress} aria-label="Progress of ${title}"></progress
                ><span>${job.progress}%</span>
              </div>`
            : nothing
        }
        ${
          job.state === 'failed' && job.error
            ? html`<p class="error">
                ${failedAgain ? `Failed again after ${plural(retries, 'retry', 'retries')}: ` : ''}${job.error}
              </p>`
            : nothing
        }
        ${note ? html`<p class=${note.error ? 'error' : 'note'} role="alert">${note.text}</p>` : nothing}
      </li>
    `;
  }
}

import { LitElement, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { csrfToken, errorFromResponse, type LiveJob, type UploadResponse } from '../shared/api.ts';
import { formatBytes, plural } from '../shared/format.ts';
import { filesFromDrop, filesFromInput, type PickedFile } from './collect-files.ts';
import { planBatches, spreadProgress } from './batches.ts';
import { JobFollowController } from './job-follow.controller.ts';
import { BatchCompleteController } from './batch-complete.controller.ts';
import styles from './upload-panel.styles.ts';

export type UploadState = 'waiting' | 'uploading' | 'checking' | 'accepted' | 'rejected' | 'failed' | 'cancelled';

interface UploadItem {
  id: number;
  file: File;
  path: string;
  loaded: number;
  state: UploadState;
  outcome: string;
  /** The drop or pick the file came in: when all of its files have an answer, its series are queued at once. */
  group: number;
  /** Series the file's images went into (volume images only: those make a job). */
  series: string[];
  /** The job the file became part of, once known. */
  jobId?: string;
  /** Why the file was rejected or failed, for grouping by reason. */
  reason?: string;
}

const JOB_STATE_LABEL: Record<string, string> = {
  queued: 'queued',
  running: 'processing',
  succeeded: 'done',
  failed: 'failed',
  cancelled: 'cancelled',
};

export interface UploadFinishedDetail {
  accepted: number;
  rejected: number;
  failed: number;
  cancelled: number;
}
export type AgUploadFinishedEvent = CustomEvent<UploadFinishedDetail>;

declare global {
  interface GlobalEventHandlersEventMap {
    'ag-upload-finished': AgUploadFinishedEvent;
  }
}

/** Requests in flight at once: enough to hide latency, few enough not to starve the live queue. */
const PARALLEL_REQUESTS = 2;
/** Rows drawn at once; a 3000-slice folder is summarised rather than drawn in full. */
const MAX_ROWS = 150;

function shortUid(uid: string): string {
  return uid.length > 20 ? `…${uid.slice(-16)}` : uid;
}

/**
 * @summary Drag-and-drop, file and folder pickers, and upload progress per file and overall.
 * Sends files to POST /api/uploads (multipart, field "files") in batches over XMLHttpRequest,
 * whose upload progress events fetch() does not offer.
 * @event ag-upload-finished - every file has an outcome (accepted, rejected, failed or cancelled).
 */
export class AgUploadPanel extends LitElement {
  static override styles = [baseStyles, styles];

  @state() private items: UploadItem[] = [];
  @state() private dragging = false;
  @state() private error = '';
  /** Shows only the rejected files with this reason. */
  @state() private onlyReason: string | undefined;

  readonly #jobs = new JobFollowController(this);
  readonly #batches = new BatchCompleteController(this, (group, jobOf) => {
    this.items = this.items.map((item) => {
      if (item.group !== group || item.jobId) return item;
      const jobId = item.series.map((s) => jobOf.get(s)).find(Boolean);
      return jobId ? Object.assign(item, { jobId }) : item;
    });
  });
  #nextGroup = 1;

  #nextId = 1;
  #requests = new Set<XMLHttpRequest>();
  #queue: UploadItem[][] = [];
  #dragDepth = 0;

  private get busy(): boolean {
    return this.items.some((i) => i.state === 'waiting' || i.state === 'uploading' || i.state === 'checking');
  }

  override render() {
    const total = this.items.reduce((s, i) => s + i.file.size, 0);
    const loaded = this.items.reduce((s, i) => s + (i.state === 'cancelled' ? 0 : i.loaded), 0);
    const count = (st: UploadState) => this.items.filter((i) => i.state === st).length;
    const done = this.items.length - count('waiting') - count('uploading') - count('checking');
    return html`
      <section class="card" aria-labelledby="upload-heading">
        <h2 id="upload-heading" class="sr-only">Add files</h2>
        <div
          class="drop ${this.dragging ? 'over' : ''}"
          @dragenter=${this.#onDragEnter}
          @dragover=${this.#onDragOver}
          @dragleave=${this.#onDragLeave}
          @drop=${this.#onDrop}
        >
          <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6" aria-hidden="true">
            <path d="M12 16V4m0 0L7.5 8.5M12 4l4.5 4.5" stroke-linecap="round" stroke-linejoin="round" />
            <path d="M4 15v3a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-3" stroke-linecap="round" />
          </svg>
          <p class="drop-title">Drop files or folders here</p>
          <p class="drop-hint">DICOM (.dcm, folders, .zip), NIfTI (.nii, .nii.gz) or NRRD (.nrrd)</p>
          <div class="pickers">
            <button class="primary" type="button" @click=${() => this.#pick('files')}>Choose files</button>
            <button type="button" @click=${() => this.#pick('folder')}>Choose a folder</button>
          </div>
          <input id="files" type="file" multiple tabindex="-1" aria-hidden="true" @change=${this.#onPicked} />
          <input id="folder" type="file" webkitdirectory tabindex="-1" aria-hidden="true" @change=${this.#onPicked} />
        </div>
        ${this.error ? html`<p class="banner" role="alert">${this.error}</p>` : nothing}
        ${this.items.length === 0 ? nothing : this.#renderProgress(total, loaded, done, count)}
      </section>
    `;
  }

  #renderProgress(total: number, loaded: number, done: number, count: (s: UploadState) => number) {
    const percent = total > 0 ? Math.round((loaded / total) * 100) : 100;
    const parts = [
      count('accepted') ? `${count('accepted')} accepted` : '',
      count('rejected') ? `${count('rejected')} rejected` : '',
      count('failed') ? `${count('failed')} failed` : '',
      count('cancelled') ? `${count('cancelled')} cancelled` : '',
    ].filter(Boolean);
    const busy = this.busy;
    const uploading = count('uploading') + count('checking');
    const pool = this.onlyReason === undefined ? this.items : this.items.filter((i) => i.reason === this.onlyReason);
    const problems = pool.filter((i) => i.state === 'rejected' || i.state === 'failed');
    const others = pool.filter((i) => i.state !== 'rejected' && i.state !== 'failed');
    const shown = [...problems.slice(0, MAX_ROWS), ...others.slice(0, Math.max(0, MAX_ROWS - problems.length))];
    shown.sort((a, b) => a.id - b.id);
    const hidden = pool.length - shown.length;
    return html`
      <div class="overall">
        <div class="overall-line">
          <span class="summary" role="status" aria-live="polite">
            ${
              busy
                ? `${uploading > 0 ? `Uploading ${plural(uploading, 'file')} · ` : ''}${done} of ${plural(this.items.length, 'file')} sent · ${formatBytes(loaded)} of ${formatBytes(total)}`
                : `${plural(this.items.length, 'file')} done${parts.length ? ` · ${parts.join(' · ')}` : ''}`
            }
          </span>
          <span class="overall-actions">
            ${
              busy
                ? html`<button class="danger small" type="button" @click=${this.cancel}>Cancel upload</button>`
                : html`
                    ${count('failed') > 0 ? html`<button class="small" type="button" @click=${this.#retryFailed}>Retry failed</button>` : nothing}
                    <button class="small" type="button" @click=${this.#clear}>Clear list</button>
                  `
            }
          </span>
        </div>
        <progress max="100" .value=${percent} aria-label="Overall upload progress">${percent}%</progress>
        ${this.#batches.note ? html`<p class="batch-note" role="status">${this.#batches.note}</p>` : nothing}
      </div>
      ${this.#renderReasons()}
      <ul class="files" aria-label="Files">
        ${shown.map((item) => this.#renderItem(item))}
        ${hidden > 0 ? html`<li class="more">${plural(hidden, 'more file')} not shown</li>` : nothing}
      </ul>
    `;
  }

  /** Rejected files grouped by reason, each group can be shown alone. */
  #renderReasons() {
    const byReason = new Map<string, number>();
    for (const i of this.items) if (i.reason !== undefined) byReason.set(i.reason, (byReason.get(i.reason) ?? 0) + 1);
    if (byReason.size === 0) return nothing;
    return html`<div class="reasons">
      <h3>Not accepted, by reason</h3>
      <ul>
        ${[...byReason].map(
          ([reason, n]) =>
            html`<li>
              <span class="reason-count">${plural(n, 'file')}</span>
              <span class="reason-text">${reason}</span>
              <button
                class="small"
                type="button"
                aria-pressed=${this.onlyReason === reason ? 'true' : 'false'}
                @click=${() => (this.onlyReason = this.onlyReason === reason ? undefined : reason)}
              >
                ${this.onlyReason === reason ? 'Show all files' : 'Show only these'}
              </button>
            </li>`,
        )}
      </ul>
    </div>`;
  }

  /** The row's state and text: its upload's, then, once it is part of a job, the job's. */
  #rowOf(item: UploadItem): { state: string; outcome: string } {
    const job: LiveJob | undefined = this.#jobs.job(item.jobId);
    if (item.state !== 'accepted' || !item.jobId) return { state: item.state, outcome: item.outcome };
    if (!job) return { state: 'queued', outcome: `${item.outcome} · queued` };
    const label = JOB_STATE_LABEL[job.state] ?? job.state;
    const detail =
      job.state === 'running' ? ` ${job.progress}%` : job.state === 'failed' && job.error ? `: ${job.error}` : '';
    return { state: `job-${job.state}`, outcome: `${item.outcome} · ${label}${detail}` };
  }

  #renderItem(item: UploadItem) {
    const row = this.#rowOf(item);
    const percent =
      item.file.size > 0 ? Math.round((item.loaded / item.file.size) * 100) : item.state === 'waiting' ? 0 : 100;
    const showBar = item.state === 'waiting' || item.state === 'uploading' || item.state === 'checking';
    return html`
      <li class="file" data-state=${row.state} data-job=${item.jobId ?? ''}>
        <span class="file-name" title=${item.path}>${item.path}</span>
        <span class="file-size">${formatBytes(item.file.size)}</span>
        ${showBar ? html`<progress max="100" .value=${percent} aria-label="Upload of ${item.path}"></progress>` : nothing}
        <span class="file-outcome">${row.outcome}</span>
      </li>
    `;
  }

  #pick(which: 'files' | 'folder'): void {
    this.renderRoot.querySelector<HTMLInputElement>(`#${which}`)?.click();
  }

  #onPicked(event: Event): void {
    const input = event.target as HTMLInputElement;
    this.add(filesFromInput(input));
    input.value = '';
  }

  #onDragEnter(event: DragEvent): void {
    event.preventDefault();
    this.#dragDepth++;
    this.dragging = true;
  }

  #onDragOver(event: DragEvent): void {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
  }

  #onDragLeave(): void {
    this.#dragDepth = Math.max(0, this.#dragDepth - 1);
    if (this.#dragDepth === 0) this.dragging = false;
  }

  async #onDrop(event: DragEvent): Promise<void> {
    event.preventDefault();
    this.#dragDepth = 0;
    this.dragging = false;
    if (!event.dataTransfer) return;
    try {
      this.add(await filesFromDrop(event.dataTransfer));
    } catch {
      this.error = 'Some dropped items could not be read. Try the "Choose a folder" button instead.';
    }
  }

  /** Queues files for upload and starts sending. Public so tests and other pages can feed files in. */
  add(picked: PickedFile[]): void {
    this.error = '';
    if (picked.length === 0) {
      this.error = 'No files found in what was dropped or chosen.';
      return;
    }
    const group = this.#nextGroup++;
    const items: UploadItem[] = picked.map((p) => ({
      id: this.#nextId++,
      file: p.file,
      path: p.path,
      loaded: 0,
      state: 'waiting',
      outcome: 'Waiting',
      group,
      series: [],
    }));
    this.#batches.clearNote();
    this.items = [...this.items, ...items];
    for (const batch of planBatches(items.map((i) => i.file.size))) this.#queue.push(batch.map((n) => items[n]));
    this.#pump();
  }

  #pump(): void {
    this.#batches.check(
      this.items.map((i) => ({
        group: i.group,
        open: i.state === 'waiting' || i.state === 'uploading' || i.state === 'checking',
        accepted: i.state === 'accepted',
        series: i.series,
      })),
    );
    while (this.#requests.size < PARALLEL_REQUESTS && this.#queue.length > 0) {
      const batch = this.#queue.shift();
      if (batch) this.#send(batch);
    }
    if (this.#requests.size === 0 && this.#queue.length === 0 && !this.busy && this.items.length > 0) {
      const n = (s: UploadState) => this.items.filter((i) => i.state === s).length;
      this.dispatchEvent(
        new CustomEvent<UploadFinishedDetail>('ag-upload-finished', {
          bubbles: true,
          composed: true,
          detail: { accepted: n('accepted'), rejected: n('rejected'), failed: n('failed'), cancelled: n('cancelled') },
        }),
      );
    }
  }

  #update(batch: UploadItem[], change: Partial<UploadItem> | ((item: UploadItem) => Partial<UploadItem>)): void {
    const ids = new Set(batch.map((i) => i.id));
    this.items = this.items.map((item) => {
      if (!ids.has(item.id) || item.state === 'cancelled') return item;
      const patch = typeof change === 'function' ? change(item) : change;
      return Object.assign(item, patch);
    });
  }

  #send(batch: UploadItem[]): void {
    const form = new FormData();
    for (const item of batch) form.append('files', item.file, item.path);
    const xhr = new XMLHttpRequest();
    this.#requests.add(xhr);
    this.#update(batch, { state: 'uploading', outcome: 'Uploading' });
    const sizes = batch.map((i) => i.file.size);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const parts = spreadProgress(sizes, e.loaded, e.total);
      this.#update(batch, (item) => ({ loaded: parts[batch.indexOf(item)] }));
    };
    xhr.upload.onload = () =>
      this.#update(batch, (item) => ({ loaded: item.file.size, state: 'checking', outcome: 'Checking…' }));
    const finish = (): void => {
      this.#requests.delete(xhr);
      this.#pump();
    };
    xhr.onload = async () => {
      const report = xhr.response as Partial<UploadResponse> | null;
      // 422 still carries the per-file report (every file rejected): show the reasons, not a status.
      if (
        (xhr.status >= 200 && xhr.status < 300) ||
        (Array.isArray(report?.accepted) && Array.isArray(report?.rejected))
      ) {
        this.#applyResponse(batch, report as UploadResponse | null);
      } else {
        const text = typeof xhr.response === 'object' && xhr.response !== null ? JSON.stringify(xhr.response) : '';
        const response = new Response(text, { status: xhr.status, statusText: xhr.statusText });
        const error = await errorFromResponse(response);
        this.#update(batch, { state: 'failed', reason: error.message, outcome: `Not sent: ${error.message}` });
      }
      finish();
    };
    xhr.onerror = () => {
      this.#update(batch, {
        state: 'failed',
        reason: 'the connection to the server was lost',
        outcome: 'Not sent: the connection to the server was lost.',
      });
      finish();
    };
    xhr.onabort = () => {
      this.#update(batch, { state: 'cancelled', outcome: 'Cancelled' });
      finish();
    };
    xhr.open('POST', '/api/uploads');
    xhr.responseType = 'json';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.send(form);
  }

  #applyResponse(batch: UploadItem[], body: UploadResponse | null): void {
    const accepted = body?.accepted ?? [];
    const rejected = body?.rejected ?? [];
    // Archives answer per inner file ("scan.zip/IM0001"): fold those into the archive's row.
    const about = <T extends { file: string }>(list: T[], path: string): T[] =>
      list.filter((e) => e.file === path || e.file.startsWith(`${path}/`) || e.file.startsWith(`${path}:`));
    this.#update(batch, (item) => {
      const ok = about(accepted, item.path);
      const bad = about(rejected, item.path);
      if (ok.length === 0 && bad.length > 0) {
        return {
          state: 'rejected',
          reason: bad[0].reason,
          outcome: `Rejected: ${bad[0].reason}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}`,
        };
      }
      if (ok.length === 0) return { state: 'accepted', outcome: 'Received' };
      const imageSeries = ok.flatMap((a) => (a.volumeImage && a.seriesInstanceUid ? [a.seriesInstanceUid] : []));
      const jobId = ok.find((a) => a.jobId)?.jobId;
      const series = [
        ...new Set(
          ok
            .map((a) => a.seriesDescription || (a.seriesInstanceUid ? shortUid(a.seriesInstanceUid) : ''))
            .filter(Boolean),
        ),
      ];
      const where =
        series.length === 1 ? ` into series ${series[0]}` : series.length > 1 ? ` into ${series.length} series` : '';
      const extra = bad.length ? ` · ${bad.length} inner files rejected (${bad[0].reason})` : '';
      const uids = ok.some((a) => a.generatedUids?.length) ? ' · its blank UIDs were generated from its content' : '';
      return {
        state: 'accepted',
        outcome: `Accepted${where}${extra}${uids}`,
        series: [...new Set(imageSeries)],
        jobId,
      };
    });
  }

  /** Stops every request in flight and drops the files not yet sent. */
  cancel(): void {
    const waiting = this.#queue.flat();
    this.#queue = [];
    this.#update(waiting, { state: 'cancelled', outcome: 'Cancelled' });
    for (const xhr of [...this.#requests]) xhr.abort();
  }

  #retryFailed(): void {
    const failed = this.items.filter((i) => i.state === 'failed');
    this.#update(failed, { state: 'waiting', outcome: 'Waiting', loaded: 0, reason: undefined });
    this.onlyReason = undefined;
    for (const batch of planBatches(failed.map((i) => i.file.size))) this.#queue.push(batch.map((n) => failed[n]));
    this.#pump();
  }

  #clear(): void {
    this.items = [];
    this.error = '';
    this.onlyReason = undefined;
    this.#batches.clearNote();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.cancel();
  }
}

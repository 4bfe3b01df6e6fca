import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import { live } from 'lit/directives/live.js';
import { baseStyles } from '../shared/base.styles.ts';
import { fetchJson, type ResultJson } from '../shared/api.ts';
import { ResultDeleteController } from './result-delete.controller.ts';
import { formatBytes, formatDateTime, formatRelativeFuture, plural } from '../shared/format.ts';
import { subscribeLive } from '../shared/live-events.ts';
import { subjectFacts } from '../shared/subject.ts';
import type { AgQrDialog } from '../qr-dialog/qr-dialog.component.ts';
import type { AgModelPreview } from '../model-preview/model-preview.component.ts';
import '../qr-dialog/qr-dialog.ts';
import '../model-preview/model-preview.ts';
import './pacs-send.ts';
import type { PacsExport, PublicPacsNode } from './pacs-send.component.ts';
import { ResultsQueryController, SORTS, type SortChoice } from './results-query.ts';
import styles from './results-list.styles.ts';

export type AgSelectionChangeEvent = CustomEvent<{ files: string[] }>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-selection-change': AgSelectionChangeEvent;
  }
}

const DAY = 86_400_000;

/** GET /api/results adds each result's PACS export states (resultsRoutes.ts). */
type ResultRow = ResultJson & { pacsExports?: PacsExport[]; viewerUrl?: string | null };

/**
 * @summary Processed results with their files: select files for a QR download, download one file,
 * or open a 3D preview. Reloads by itself when a new result is announced over /api/events.
 * @event ag-selection-change - the set of ticked file addresses changed (detail.files).
 */
export class AgResultsList extends LitElement {
  static override styles = [baseStyles, styles];

  @state() private results: ResultRow[] = [];
  /** PACS nodes a SEG can be sent to; none (or not allowed to list them) hides Send to PACS. */
  @state() private pacsNodes: PublicPacsNode[] = [];
  @state() private phase: 'loading' | 'ready' | 'error' = 'loading';
  @state() private error = '';
  @state() private selected = new Set<string>();

  @query('ag-qr-dialog') private qrDialog!: AgQrDialog;
  @query('ag-model-preview') private preview!: AgModelPreview;

  #unsubscribe: (() => void) | undefined;
  #nodesLoaded = false;
  readonly #delete = new ResultDeleteController(this, () => this.load());
  readonly #query = new ResultsQueryController(this);

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.#unsubscribe = subscribeLive({ result: () => void this.load() });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#unsubscribe?.();
  }

  async load(): Promise<void> {
    try {
      const request = this.#query.request();
      const results = await fetchJson<ResultRow[]>(request.url);
      if (!request.current()) return;
      this.results = results;
      if (!this.#nodesLoaded) {
        this.#nodesLoaded = true;
        void fetchJson<PublicPacsNode[]>('/api/pacs/nodes').then(
          (nodes) => (this.pacsNodes = nodes),
          () => (this.pacsNodes = []),
        );
      }
      const known = new Set(this.results.flatMap((r) => r.files.map((f) => f.url)));
      this.#select(new Set([...this.selected].filter((url) => known.has(url))));
      this.phase = 'ready';
    } catch (error) {
      // Keep showing what was there; only an empty page turns into an error state.
      if (this.results.length === 0) this.phase = 'error';
      this.error = (error as Error).message;
    }
  }

  #select(next: Set<string>): void {
    this.selected = next;
    this.dispatchEvent(
      new CustomEvent('ag-selection-change', { detail: { files: [...next] }, bubbles: true, composed: true }),
    );
  }

  #toggle(urls: string[], on: boolean): void {
    const next = new Set(this.selected);
    for (const url of urls) {
      if (on) next.add(url);
      else next.delete(url);
    }
    this.#select(next);
  }

  override render() {
    if (this.phase === 'loading') return html`<div class="state" role="status"><p>Loading results…</p></div>`;
    if (this.phase === 'error') {
      return html`<div class="state error" role="alert">
        <p>The results could not be loaded: ${this.error}</p>
        <button
          type="button"
          @click=${() => {
            this.phase = 'loading';
            void this.load();
          }}
        >
          Try again
        </button>
      </div>`;
    }
    const all = this.results.flatMap((r) => r.files.map((f) => f.url));
    const chosen = all.filter((u) => this.selected.has(u));
    const bytes = this.results
      .flatMap((r) => r.files)
      .filter((f) => this.selected.has(f.url))
      .reduce((s, f) => s + f.size, 0);
    const finder = html`<div class="finder" role="search">
      <label>
        <span>Search</span>
        <input
          type="search"
          placeholder="Patient name or ID, study date, modality, series"
          .value=${live(this.#query.search)}
          @input=${(e: Event) => this.#query.setSearch((e.target as HTMLInputElement).value)}
        />
      </label>
      <label>
        <span>Sort by</span>
        <select @change=${(e: Event) => this.#query.setSort((e.target as HTMLSelectElement).value as SortChoice)}>
          ${SORTS.map((s) => html`<option value=${s.value} ?selected=${s.value === this.#query.sort}>${s.label}</option>`)}
        </select>
      </label>
    </div>`;
    return html`
      ${this.results.length > 0 || this.#query.active ? finder : nothing}
      ${
        this.results.length === 0
          ? this.#query.active
            ? html`<div class="state" role="status">
                <p>No results match “${this.#query.search.trim()}”.</p>
                <button type="button" @click=${() => this.#query.setSearch('')}>Clear the search</button>
              </div>`
            : html`<div class="state">
                <p>No results yet.</p>
                <a class="button" href="/">Upload a scan</a>
              </div>`
          : html`
              <div class="toolbar">
                <label>
                  <input
                    type="checkbox"
                    .checked=${live(chosen.length > 0 && chosen.length === all.length)}
                    .indeterminate=${chosen.length > 0 && chosen.length < all.length}
                    @change=${(e: Event) => this.#toggle(all, (e.target as HTMLInputElement).checked)}
                  />
                  Select all files
                </label>
                <div class="toolbar-actions">
                  <span class="selected" role="status"
                    >${chosen.length ? `${plural(chosen.length, 'file')} selected · ${formatBytes(bytes)}` : 'No files selected'}</span
                  >
                  <button
                    class="primary"
                    type="button"
                    ?disabled=${chosen.length === 0}
                    @click=${() =>
                      this.qrDialog.show(this.results.flatMap((r) => r.files).filter((f) => this.selected.has(f.url)))}
                  >
                    Generate QR code
                  </button>
                </div>
              </div>
              ${this.error ? html`<p class="state error" role="alert">Could not refresh: ${this.error}</p>` : nothing}
              <ol class="results" aria-label="Results">
                ${this.results.map((r) => this.#renderResult(r))}
              </ol>
            `
      }
      <ag-qr-dialog></ag-qr-dialog>
      <ag-model-preview></ag-model-preview>
    `;
  }

  /** The engine's quality note per structure (the built-in engine says what each one holds and where to check). */
  #renderNotes(r: ResultRow) {
    const notes = r.segments.filter((s) => typeof s.note === 'string' && s.note);
    if (notes.length === 0) return nothing;
    return html`<details class="notes">
      <summary>Quality notes (${notes.length})</summary>
      <dl>
        ${notes.map(
          (s) =>
            html`<dt>${s.name}</dt>
              <dd>${s.note as string}</dd>`,
        )}
      </dl>
    </details>`;
  }

  #renderResult(r: ResultRow) {
    const urls = r.files.map((f) => f.url);
    const n = urls.filter((u) => this.selected.has(u)).length;
    const expiresSoon = r.expiresAt !== null && Date.parse(r.expiresAt) - Date.now() < 3 * DAY;
    const headingId = `result-${r.id}`;
    const title = r.displayName || r.name;
    return html`
      <li class="result" data-result=${r.id} aria-labelledby=${headingId}>
        <div class="result-head">
          <input
            type="checkbox"
            aria-label="Select all files of ${title}"
            .checked=${live(n > 0 && n === urls.length)}
            .indeterminate=${n > 0 && n < urls.length}
            @change=${(e: Event) => this.#toggle(urls, (e.target as HTMLInputElement).checked)}
          />
          <div>
            <h2 id=${headingId}>${title}</h2>
            <ul class="facts">
              ${subjectFacts(r.subject).map((f) => html`<li class="subject">${f}</li>`)}
              ${r.uidsGenerated ? html`<li title="The files' UIDs were blank">UIDs generated from the files</li>` : nothing}
              <li>${formatDateTime(r.createdAt)}</li>
              ${r.engine ? html`<li>Engine: ${r.engine}</li>` : nothing}
              <li>${plural(r.segments.length, 'segment')}</li>
              <li>${formatBytes(r.totalSize)}</li>
              <li class=${expiresSoon ? 'expiry-soon' : ''}>
                ${r.expiresAt ? html`Removed <time datetime=${r.expiresAt}>${formatRelativeFuture(r.expiresAt)}</time>` : 'Kept until deleted'}
              </li>
            </ul>
          </div>
          <button
            class="preview"
            type="button"
            ?disabled=${!r.previewUrl}
            @click=${() => this.preview.show(r)}
            aria-label="3D preview of ${title}"
          >
            3D preview
          </button>
          ${
            r.viewerUrl
              ? html`<a
                  class="button viewer"
                  href=${r.viewerUrl}
                  target="_blank"
                  rel="noopener"
                  aria-label="Open the images of ${title} in the viewer"
                  >Open in viewer</a
                >`
              : nothing
          }
        </div>
        <div class="result-actions">
          <button
            class="small danger"
            type="button"
            ?disabled=${this.#delete.pending.has(r.id)}
            @click=${() => this.#delete.confirmAndDelete(r)}
            aria-label="Delete ${r.name} and its ${plural(r.files.length, 'file')}"
          >
            Delete
          </button>
          ${this.#delete.errors.has(r.id) ? html`<span class="error" role="alert">${this.#delete.errors.get(r.id)}</span>` : nothing}
        </div>
        ${this.#renderNotes(r)}
        ${
          this.pacsNodes.length > 0
            ? html`<ag-pacs-send
                class="pacs"
                result-id=${r.id}
                ?has-seg=${r.files.some((f) => f.name.endsWith('_seg.dcm'))}
                .nodes=${this.pacsNodes}
                .exports=${r.pacsExports ?? []}
              ></ag-pacs-send>`
            : nothing
        }
        <ul class="files" aria-label="Files of ${title}">
          ${r.files.map((f, i) => {
            const id = `f-${r.id}-${i}`;
            return html`<li class="file">
              <input
                id=${id}
                type="checkbox"
                .checked=${live(this.selected.has(f.url))}
                @change=${(e: Event) => this.#toggle([f.url], (e.target as HTMLInputElement).checked)}
              />
              <label for=${id} title=${f.name}>${f.name}</label>
              <span class="size">${formatBytes(f.size)}</span>
              <a class="button small" href=${f.url} download=${f.name} aria-label="Download ${f.name}">Download</a>
            </li>`;
          })}
        </ul>
      </li>
    `;
  }
}

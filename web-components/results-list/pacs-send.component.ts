import { LitElement, css, html, nothing } from 'lit';
import { property, state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { fetchJson, postJson } from '../shared/api.ts';
import type { PacsExport } from '../../server/results/pacsExports.ts';
import type { PublicPacsNode } from '../../server/config/pacsNodes.ts';

export type { PacsExport, PublicPacsNode };

const POLL_MS = 1500;

/** A node's export state in words, with the reason when it is waiting to retry or failed. */
export function exportText(e: PacsExport): string {
  switch (e.state) {
    case 'succeeded':
      return `Sent to ${e.node}`;
    case 'running':
      return `Sending to ${e.node}…`;
    case 'queued':
      return e.detail ? `Sending to ${e.node}: ${e.detail}` : `Waiting to send to ${e.node}…`;
    case 'failed':
      return `Not sent to ${e.node}: ${e.detail ?? 'unknown reason'}`;
  }
}

/**
 * @summary "Send to PACS" for one result: choose a node, queue the SEG export, and follow its state
 * (queued, sending, sent, or failed with the reason) until it settles. Disabled, with the reason,
 * while the result has no DICOM SEG.
 */
export class AgPacsSend extends LitElement {
  static override styles = [
    baseStyles,
    css`
      :host {
        display: block;
      }
      .send {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 0.5rem;
      }
      select {
        max-width: 14rem;
      }
      .why {
        color: var(--ag-text-muted);
        font-size: 0.875rem;
      }
      ul {
        margin: 0.4rem 0 0;
        padding: 0;
        list-style: none;
        font-size: 0.925rem;
      }
      li[data-state='succeeded'] {
        color: var(--ag-success);
      }
      li[data-state='failed'],
      .error {
        color: var(--ag-danger);
      }
    `,
  ];

  @property({ attribute: 'result-id' }) resultId = '';
  @property({ attribute: false }) nodes: PublicPacsNode[] = [];
  @property({ attribute: false }) exports: PacsExport[] = [];
  @property({ type: Boolean, attribute: 'has-seg' }) hasSeg = false;

  @state() private chosen = '';
  @state() private sending = false;
  @state() private error = '';
  @state() private current: PacsExport[] = [];

  #timer: ReturnType<typeof setTimeout> | undefined;

  override willUpdate(changed: Map<string, unknown>): void {
    // A reload of the list brings fresh export rows; they replace what polling last saw.
    if (changed.has('exports')) this.current = this.exports;
    const stores = this.nodes.filter((n) => n.canStore);
    if (!stores.some((n) => n.name === this.chosen)) this.chosen = stores[0]?.name ?? '';
  }

  override updated(): void {
    if (this.current.some((e) => e.state === 'queued' || e.state === 'running')) this.#poll();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    if (this.#timer !== undefined || !this.isConnected) return;
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      try {
        this.current = await fetchJson<PacsExport[]>(`/api/results/${encodeURIComponent(this.resultId)}/pacs-exports`);
      } catch (e) {
        this.error = `The export state could not be refreshed: ${(e as Error).message}`;
      }
    }, POLL_MS);
  }

  async #send(): Promise<void> {
    if (!this.chosen || this.sending) return;
    this.sending = true;
    this.error = '';
    try {
      await postJson(`/api/results/${encodeURIComponent(this.resultId)}/pacs-exports`, { node: this.chosen });
      this.current = await fetchJson<PacsExport[]>(`/api/results/${encodeURIComponent(this.resultId)}/pacs-exports`);
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.sending = false;
    }
  }

  override render() {
    const stores = this.nodes.filter((n) => n.canStore);
    if (stores.length === 0) return nothing;
    const active = this.current.find((e) => e.node === this.chosen && (e.state === 'queued' || e.state === 'running'));
    const disabled = !this.hasSeg || this.sending || active !== undefined;
    const id = `pacs-node-${this.resultId}`;
    return html`
      <div class="send">
        ${
          stores.length > 1
            ? html`<label class="sr-only" for=${id}>PACS node</label>
                <select
                  id=${id}
                  .value=${this.chosen}
                  @change=${(e: Event) => (this.chosen = (e.target as HTMLSelectElement).value)}
                >
                  ${stores.map((n) => html`<option value=${n.name} ?selected=${n.name === this.chosen}>${n.name}</option>`)}
                </select>`
            : nothing
        }
        <button
          type="button"
          class="send-button"
          ?disabled=${disabled}
          aria-describedby=${this.hasSeg ? nothing : `${id}-why`}
          @click=${() => void this.#send()}
        >
          ${this.sending ? 'Sending…' : stores.length > 1 ? 'Send to PACS' : `Send to ${stores[0].name}`}
        </button>
        ${this.hasSeg ? nothing : html`<span class="why" id="${id}-why">No DICOM SEG: only results of DICOM series can be sent.</span>`}
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        this.current.length > 0
          ? html`<ul class="exports" aria-live="polite" aria-label="PACS exports">
              ${this.current.map((e) => html`<li data-node=${e.node} data-state=${e.state}>${exportText(e)}</li>`)}
            </ul>`
          : nothing
      }
    `;
  }
}

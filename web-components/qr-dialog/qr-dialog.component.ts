import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { postJson, type DownloadLink } from '../shared/api.ts';
import { formatDateTime, formatRelativeFuture, plural } from '../shared/format.ts';
import { deepActiveElement, trapTab } from '../shared/modal.ts';
import styles from './qr-dialog.styles.ts';

export type AgQrCloseEvent = CustomEvent<Record<PropertyKey, never>>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-qr-close': AgQrCloseEvent;
  }
}

/**
 * @summary A modal with a QR code that opens a signed, expiring download page on a phone.
 * Asks POST /api/downloads for the link; the QR code is SVG rendered by the server.
 * @event ag-qr-close - the dialog was closed (button, Escape or backdrop).
 */
export class AgQrDialog extends LitElement {
  static override styles = [baseStyles, styles];

  @state() private link: DownloadLink | undefined;
  @state() private error = '';
  @state() private loading = false;
  @state() private copied = false;

  @query('dialog') private dialog!: HTMLDialogElement;

  #returnFocus: HTMLElement | null = null;

  /** Opens the dialog and makes a link for these result file addresses. */
  async show(files: string[]): Promise<void> {
    this.#returnFocus = deepActiveElement();
    this.link = undefined;
    this.error = '';
    this.copied = false;
    this.loading = true;
    await this.updateComplete;
    this.dialog.showModal();
    this.renderRoot.querySelector<HTMLElement>('.close')?.focus();
    try {
      this.link = await postJson<DownloadLink>('/api/downloads', { files });
    } catch (error) {
      this.error = `The QR code could not be made: ${(error as Error).message}`;
    } finally {
      this.loading = false;
    }
  }

  hide(): void {
    if (this.dialog?.open) this.dialog.close();
  }

  #onClose(): void {
    this.#returnFocus?.focus();
    this.#returnFocus = null;
    this.dispatchEvent(new CustomEvent('ag-qr-close', { detail: {}, bubbles: true, composed: true }));
  }

  #onBackdrop(event: MouseEvent): void {
    // A click on the dialog element itself (not its content) is a click on the backdrop.
    if (event.target === this.dialog) this.hide();
  }

  async #copy(): Promise<void> {
    if (!this.link) return;
    try {
      await navigator.clipboard.writeText(this.link.url);
      this.copied = true;
    } catch {
      this.renderRoot.querySelector<HTMLInputElement>('.link input')?.select();
    }
  }

  override render() {
    const link = this.link;
    return html`
      <dialog
        aria-labelledby="qr-title"
        @close=${this.#onClose}
        @keydown=${(e: KeyboardEvent) => trapTab(this.dialog, e)}
        @click=${this.#onBackdrop}
      >
        <div class="head">
          <h2 id="qr-title">Download on a phone</h2>
          <button class="close" type="button" @click=${this.hide} aria-label="Close">✕</button>
        </div>
        <div class="body">
          ${this.loading ? html`<p class="meta" role="status">Making a download link…</p>` : nothing}
          ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
          ${
            link
              ? html`
                  <img
                    class="qr"
                    src=${`data:image/svg+xml;charset=utf-8,${encodeURIComponent(link.qrSvg)}`}
                    alt="QR code of the download link"
                  />
                  <p class="meta">Scan with the phone's camera to download ${plural(link.files, 'file')}.</p>
                  <div class="link">
                    <label class="sr-only" for="link-text">Download link</label>
                    <input
                      id="link-text"
                      type="text"
                      readonly
                      .value=${link.url}
                      @focus=${(e: FocusEvent) => (e.target as HTMLInputElement).select()}
                    />
                    <button class="small" type="button" @click=${this.#copy}>${this.copied ? 'Copied' : 'Copy'}</button>
                  </div>
                  <p class="meta">
                    Valid until
                    <time datetime=${link.expiresAt}>${formatDateTime(link.expiresAt)}</time>
                    (${formatRelativeFuture(link.expiresAt)}). Anyone with the link can download these files until then.
                  </p>
                  <p class="meta" data-address-source=${link.address.source}>
                    ${
                      link.address.source === 'public-url'
                        ? html`Address from the PUBLIC_URL setting: ${link.address.url}`
                        : html`Address of this computer on the network: ${link.address.url}`
                    }
                  </p>
                  ${link.address.warning ? html`<p class="warning" role="alert">${link.address.warning}</p>` : nothing}
                `
              : nothing
          }
        </div>
      </dialog>
    `;
  }
}

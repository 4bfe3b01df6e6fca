import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { dialogStyles } from '../shared/dialog.styles.ts';
import { deleteRequest, fetchJson, postJson, type ActiveLink, type DownloadLink } from '../shared/api.ts';
import { formatDateTime, formatRelativeFuture, plural } from '../shared/format.ts';
import { deepActiveElement, trapTab } from '../shared/modal.ts';
import styles from './qr-dialog.styles.ts';

export type AgQrCloseEvent = CustomEvent<Record<PropertyKey, never>>;
declare global {
  interface GlobalEventHandlersEventMap {
    'ag-qr-close': AgQrCloseEvent;
  }
}

/** A result file as the files page lists it. */
export interface ChosenFile {
  url: string;
  name: string;
  patientData: boolean;
}

/**
 * @summary A modal with a QR code that opens an expiring download page on a phone.
 * Asks POST /api/downloads for the link; the QR code is SVG rendered by the server. Files that hold patient data
 * (the DICOM SEG, the input volume) are listed unticked first, and go in only when ticked here. The link can be
 * withdrawn from the dialog, and so can the other active links of this user (an admin's: everyone's).
 * @event ag-qr-close - the dialog was closed (button, Escape or backdrop).
 */
export class AgQrDialog extends LitElement {
  static override styles = [baseStyles, dialogStyles, styles];

  @state() private link: DownloadLink | undefined;
  @state() private error = '';
  @state() private loading = false;
  @state() private copied = false;
  /** Chosen files when some hold patient data: the creator decides which go in before the link is made. */
  @state() private choosing: ChosenFile[] | undefined;
  @state() private ticked = new Set<string>();
  @state() private withdrawn = false;
  @state() private active: ActiveLink[] = [];
  /** Names of chosen files not in the link (unticked here, or left out by the server). */
  @state() private leftOut: string[] = [];

  @query('dialog') private dialog!: HTMLDialogElement;

  #returnFocus: HTMLElement | null = null;

  /** Opens the dialog for these result files: at once a link when none holds patient data, else a choice first. */
  async show(files: ChosenFile[]): Promise<void> {
    this.#returnFocus = deepActiveElement();
    this.link = undefined;
    this.error = '';
    this.copied = false;
    this.withdrawn = false;
    this.choosing = files.some((f) => f.patientData) ? files : undefined;
    this.ticked = new Set(files.filter((f) => !f.patientData).map((f) => f.url));
    await this.updateComplete;
    this.dialog.showModal();
    this.renderRoot.querySelector<HTMLElement>('.close')?.focus();
    if (!this.choosing)
      await this.#make(
        files.map((f) => f.url),
        false,
      );
  }

  async #make(urls: string[], includePatientData: boolean): Promise<void> {
    this.loading = true;
    this.error = '';
    try {
      this.link = await postJson<DownloadLink>('/api/downloads', { files: urls, includePatientData });
      const unticked = (this.choosing ?? []).filter((f) => !urls.includes(f.url)).map((f) => f.name);
      this.leftOut = [...unticked, ...this.link.excluded.map((f) => f.name)];
      this.choosing = undefined;
      void this.#loadActive();
    } catch (error) {
      this.error = `The QR code could not be made: ${(error as Error).message}`;
    } finally {
      this.loading = false;
    }
  }

  async #loadActive(): Promise<void> {
    try {
      this.active = (await fetchJson<{ links: ActiveLink[] }>('/api/downloads')).links;
    } catch {
      this.active = [];
    }
  }

  async #withdraw(id: string): Promise<void> {
    try {
      await deleteRequest(`/api/downloads/${encodeURIComponent(id)}`);
      if (this.link?.id === id) this.withdrawn = true;
      await this.#loadActive();
    } catch (error) {
      this.error = `The link could not be withdrawn: ${(error as Error).message}`;
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
          ${this.choosing ? this.#renderChoice(this.choosing) : nothing}
          ${this.loading ? html`<p class="meta" role="status">Making a download link…</p>` : nothing}
          ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
          ${link && this.withdrawn ? html`<p class="warning" role="status">This link has been withdrawn: it opens nothing now.</p>` : nothing}
          ${
            link && !this.withdrawn
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
                  <ul class="contents" aria-label="Files in this link">
                    ${link.contents.map(
                      (f) =>
                        html`<li>
                          ${f.name}${f.patientData ? html` <span class="badge">patient data</span>` : nothing}
                        </li>`,
                    )}
                  </ul>
                  ${this.leftOut.length ? html`<p class="meta">Left out: ${this.leftOut.join(', ')}</p>` : nothing}
                  <button class="small withdraw" type="button" @click=${() => this.#withdraw(link.id)}>
                    Withdraw this link
                  </button>
                `
              : nothing
          }
          ${link ? this.#renderActive(link.id) : nothing}
        </div>
      </dialog>
    `;
  }

  #renderChoice(files: ChosenFile[]) {
    const toggle = (url: string, on: boolean): void => {
      const next = new Set(this.ticked);
      if (on) next.add(url);
      else next.delete(url);
      this.ticked = next;
    };
    const chosen = files.filter((f) => this.ticked.has(f.url));
    return html`
      <p class="meta">
        Some of these files hold patient data (name, ID, the images themselves). Anyone with the link can download what
        it holds: tick them only if the phone may have them.
      </p>
      <ul class="choice" aria-label="Files for the link">
        ${files.map(
          (f, i) =>
            html`<li>
              <input
                id=${`choice-${i}`}
                type="checkbox"
                .checked=${this.ticked.has(f.url)}
                @change=${(e: Event) => toggle(f.url, (e.target as HTMLInputElement).checked)}
              />
              <label for=${`choice-${i}`}>${f.name}</label>
              ${f.patientData ? html`<span class="badge">patient data</span>` : nothing}
            </li>`,
        )}
      </ul>
      <button
        class="primary make"
        type="button"
        ?disabled=${chosen.length === 0 || this.loading}
        @click=${() =>
          this.#make(
            chosen.map((f) => f.url),
            chosen.some((f) => f.patientData),
          )}
      >
        Make QR code
      </button>
    `;
  }

  #renderActive(current: string) {
    const others = this.active.filter((l) => l.id !== current);
    if (others.length === 0) return nothing;
    return html`<details class="active">
      <summary>Other active links (${others.length})</summary>
      <ul>
        ${others.map(
          (l) =>
            html`<li>
              <span
                >${plural(l.files.length, 'file')}${l.patientData ? ' · patient data' : ''} · until
                ${formatDateTime(l.expiresAt)}${l.mine ? '' : ` · ${l.createdBy ?? ''}`}</span
              >
              <button class="small" type="button" @click=${() => this.#withdraw(l.id)}>Withdraw</button>
            </li>`,
        )}
      </ul>
    </details>`;
  }
}

import { LitElement, html, nothing } from 'lit';
import { query, state } from 'lit/decorators.js';
import { baseStyles } from '../shared/base.styles.ts';
import { dialogStyles } from '../shared/dialog.styles.ts';
import { deepActiveElement, trapTab } from '../shared/modal.ts';
import { PasswordChangeController } from './password-change.controller.ts';
import styles from './password-dialog.styles.ts';

/**
 * @summary Change your own password: current, new, and new again. Other sessions of the account end; this one
 * stays signed in (POST /api/me/password).
 */
export class AgPasswordDialog extends LitElement {
  static override styles = [baseStyles, dialogStyles, styles];

  @query('dialog') private dialog!: HTMLDialogElement;
  @state() private mismatch = false;

  readonly #change = new PasswordChangeController(this);
  #returnFocus: HTMLElement | null = null;

  async show(): Promise<void> {
    this.#returnFocus = deepActiveElement();
    this.#change.reset();
    this.mismatch = false;
    await this.updateComplete;
    this.renderRoot.querySelector('form')?.reset();
    this.dialog.showModal();
    this.renderRoot.querySelector<HTMLInputElement>('input[name="current"]')?.focus();
  }

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const current = String(data.get('current') ?? '');
    const next = String(data.get('next') ?? '');
    this.mismatch = next !== String(data.get('again') ?? '');
    if (this.mismatch) return;
    await this.#change.submit(current, next);
  }

  override render() {
    const c = this.#change;
    return html`<dialog
      aria-labelledby="password-title"
      @keydown=${(e: KeyboardEvent) => trapTab(this.dialog, e)}
      @close=${() => this.#returnFocus?.focus()}
    >
      <div class="head">
        <h2 id="password-title">Change password</h2>
        <button class="small close" type="button" aria-label="Close" @click=${() => this.dialog.close()}>✕</button>
      </div>
      ${
        c.phase === 'done'
          ? html`<div class="body">
              <p class="ok" role="status">Your password was changed. Other sessions of your account were signed out.</p>
              <button class="primary" type="button" @click=${() => this.dialog.close()}>Close</button>
            </div>`
          : html`<form class="body" @submit=${this.#submit} novalidate>
              ${c.error ? html`<p class="error" role="alert">${c.error}</p>` : nothing}
              ${this.mismatch ? html`<p class="error" role="alert">The new password and its repetition differ.</p>` : nothing}
              <label
                >Current password
                <input name="current" type="password" autocomplete="current-password" required />
              </label>
              <label
                >New password
                <input name="next" type="password" autocomplete="new-password" required minlength="12" />
              </label>
              <label
                >New password again
                <input name="again" type="password" autocomplete="new-password" required />
              </label>
              <button class="primary" type="submit" ?disabled=${c.phase === 'busy'}>
                ${c.phase === 'busy' ? 'Changing…' : 'Change password'}
              </button>
            </form>`
      }
    </dialog>`;
  }
}

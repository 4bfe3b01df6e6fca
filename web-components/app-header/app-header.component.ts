import { LitElement, html, nothing } from 'lit';
import { property, query } from 'lit/decorators.js';
import { SessionController } from './session.controller.ts';
import type { AgPasswordDialog } from '../password-dialog/password-dialog.component.ts';
import '../password-dialog/password-dialog.ts';
import styles from './app-header.styles.ts';

const LINKS = [
  { id: 'upload', href: '/', label: 'Upload & queue' },
  { id: 'files', href: '/files', label: 'Files' },
  { id: 'pacs', href: '/pacs', label: 'PACS' },
] as const;

/**
 * @summary The product name, the links between pages, and the signed-in user's account: change password, sign out,
 * and the admin page for admins.
 * @attr current - id of the page being shown ("upload" or "files"); its link gets aria-current.
 */
export class AgAppHeader extends LitElement {
  static override styles = styles;

  @property({ reflect: true }) current = '';

  @query('ag-password-dialog') private passwordDialog!: AgPasswordDialog;

  readonly #session = new SessionController(this);

  override render() {
    return html`
      <header class="bar">
        <a class="brand" href="/">
          <svg viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#1d3f66" />
            <path
              d="M16 5c-4 0-7 3-7 7 0 3 1.6 4.6 2.4 6.6.6 1.6.6 4.4.6 6.4 0 1 .8 2 2 2h4c1.2 0 2-1 2-2 0-2 0-4.8.6-6.4.8-2 2.4-3.6 2.4-6.6 0-4-3-7-7-7z"
              fill="none"
              stroke="#7cc4ff"
              stroke-width="2"
            />
            <path d="M12.5 14h7M13 18h6" stroke="#7cc4ff" stroke-width="2" stroke-linecap="round" />
          </svg>
          Anatomy Gateway
        </a>
        <nav aria-label="Pages">
          <ul>
            ${LINKS.map(
              (l) =>
                html`<li>
                  <a href=${l.href} aria-current=${this.current === l.id ? 'page' : 'false'}>${l.label}</a>
                </li>`,
            )}
            ${
              this.#session.isAdmin && this.#session.isUser
                ? html`<li>
                    <a href="/admin" aria-current=${this.current === 'admin' ? 'page' : 'false'}>Users & tokens</a>
                  </li>`
                : nothing
            }
          </ul>
        </nav>
        ${this.#renderAccount()}
      </header>
      <ag-password-dialog></ag-password-dialog>
    `;
  }

  #renderAccount() {
    const s = this.#session;
    if (!s.isUser) return nothing;
    return html`<div class="account" role="group" aria-label="Account">
      <span class="user" title="Signed in as ${s.me?.username}">${s.me?.username}</span>
      <button type="button" @click=${() => this.passwordDialog.show()}>Change password</button>
      <button type="button" @click=${() => s.signOut()}>Sign out</button>
    </div>`;
  }
}

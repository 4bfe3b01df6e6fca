import { LitElement, html, nothing } from 'lit';
import { state } from 'lit/decorators.js';
import { nextPath } from './next-path.ts';
import { LoginHintController } from './login-hint.controller.ts';
import styles from './login-form.styles.ts';

interface LoginReply {
  next?: string;
  error?: string;
}

/**
 * @summary Sign-in form: POST /api/login (JSON), then on to the page that asked for it (?next=).
 * A plain <form> with autocomplete hints, so password managers fill it in.
 */
export class AgLoginForm extends LitElement {
  static override styles = styles;

  @state() private busy = false;
  @state() private error = '';

  readonly #hint = new LoginHintController(this);

  override render() {
    return html`
      <form @submit=${this.#submit} novalidate>
        <h1>Sign in</h1>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
        <label
          >User name
          <input
            name="username"
            autocomplete="username"
            autocapitalize="none"
            spellcheck="false"
            required
            ?disabled=${this.busy}
          />
        </label>
        <label
          >Password
          <input name="password" type="password" autocomplete="current-password" required ?disabled=${this.busy} />
        </label>
        <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Signing in…' : 'Sign in'}</button>
        ${
          this.#hint.initialPassword
            ? html`<p class="hint">
                The first account is "admin"; its password is in initial-admin-password.txt in the server's data folder.
                Change it after signing in.
              </p>`
            : html`<p class="hint">Forgotten your password? Ask an administrator to reset it.</p>`
        }
      </form>
    `;
  }

  override firstUpdated(): void {
    this.renderRoot.querySelector<HTMLInputElement>('input[name="username"]')?.focus();
  }

  async #submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const username = String(data.get('username') ?? '').trim();
    const password = String(data.get('password') ?? '');
    if (!username || !password) {
      this.error = 'Enter your user name and password.';
      return;
    }
    this.busy = true;
    this.error = '';
    try {
      const response = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ username, password, next: nextPath(location.search) }),
      });
      const reply = (await response.json().catch(() => ({}))) as LoginReply;
      if (response.ok) {
        location.assign(nextPath(`?next=${encodeURIComponent(reply.next ?? '/')}`));
        return;
      }
      this.error = reply.error ?? `Sign-in failed (${response.status}).`;
    } catch {
      this.error = 'The server cannot be reached. Check the network connection.';
    } finally {
      this.busy = false;
    }
    const field = this.renderRoot.querySelector<HTMLInputElement>('input[name="password"]');
    if (field) {
      field.value = '';
      field.focus();
    }
  }
}

import { LitElement, html, nothing } from 'lit';
import { baseStyles } from '../shared/base.styles.ts';
import { formatDateTime } from '../shared/format.ts';
import { AccountsController, ROLE_NAMES, type TokenRecord, type UserRecord } from './accounts.controller.ts';
import styles from './user-admin.styles.ts';

function rolesOf(form: HTMLFormElement): string[] {
  const data = new FormData(form);
  return ROLE_NAMES.filter((r) => data.getAll('roles').includes(r));
}

/**
 * @summary Users (create, roles, password reset, delete) and API tokens (create, revoke) for admins. A generated
 * password or a new token is shown once, as the API hands it out once.
 */
export class AgUserAdmin extends LitElement {
  static override styles = [baseStyles, styles];

  readonly #accounts = new AccountsController(this);

  override render() {
    const a = this.#accounts;
    if (a.phase === 'loading') return html`<p role="status">Loading users and tokens…</p>`;
    if (a.phase === 'error' && a.users.length === 0)
      return html`<p class="error" role="alert">Users and tokens could not be loaded: ${a.error}</p>`;
    return html`
      <div class="outcome" aria-live="polite">
        ${a.error ? html`<p class="error" role="alert">${a.error}</p>` : nothing}
        ${a.message ? html`<p class="ok" role="status">${a.message}</p>` : nothing}
        ${
          a.secret
            ? html`<div class="secret">
                <p><strong>${a.secret.title}</strong>: shown only now, copy it.</p>
                <code>${a.secret.value}</code>
              </div>`
            : nothing
        }
      </div>
      <section class="card" aria-labelledby="users-heading">
        <h2 id="users-heading">Users</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Roles</th>
              <th scope="col">Last sign-in</th>
              <th scope="col"><span class="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${a.users.map((u) => this.#renderUser(u))}
          </tbody>
        </table>
        <form class="create" @submit=${this.#createUser}>
          <h3>New user</h3>
          <label>User name <input name="username" required autocomplete="off" /></label>
          ${this.#roleBoxes(['read'])}
          <label
            >Password
            <input name="password" type="password" autocomplete="new-password" placeholder="generated if empty"
          /></label>
          <button class="primary" type="submit" ?disabled=${a.busy}>Create user</button>
        </form>
      </section>
      <section class="card" aria-labelledby="tokens-heading">
        <h2 id="tokens-heading">API tokens</h2>
        <p class="lead">For scripts, PACS and modalities: send as <code>Authorization: Bearer &lt;token&gt;</code>.</p>
        ${
          a.tokens.length === 0
            ? html`<p>No tokens yet.</p>`
            : html`<table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Roles</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col"><span class="sr-only">Actions</span></th>
                  </tr>
                </thead>
                <tbody>
                  ${a.tokens.map((t) => this.#renderToken(t))}
                </tbody>
              </table>`
        }
        <form class="create" @submit=${this.#createToken}>
          <h3>New token</h3>
          <label>Name <input name="name" required placeholder="e.g. PACS north" autocomplete="off" /></label>
          ${this.#roleBoxes(['ingest'])}
          <label>Expires after (days) <input name="days" type="number" min="1" max="3650" placeholder="never" /></label>
          <button class="primary" type="submit" ?disabled=${a.busy}>Create token</button>
        </form>
      </section>
    `;
  }

  #roleBoxes(checked: string[], onChange?: (e: Event) => void) {
    return html`<fieldset class="roles">
      <legend>Roles</legend>
      ${ROLE_NAMES.map(
        (r) =>
          html`<label class="role"
            ><input type="checkbox" name="roles" value=${r} .checked=${checked.includes(r)} @change=${onChange} />
            ${r}</label
          >`,
      )}
    </fieldset>`;
  }

  #renderUser(u: UserRecord) {
    const a = this.#accounts;
    return html`<tr data-user=${u.username}>
      <th scope="row">${u.username}</th>
      <td>
        <form
          class="inline-roles"
          aria-label="Roles of ${u.username}"
          @submit=${(e: SubmitEvent) => {
            e.preventDefault();
            void a.setRoles(u, rolesOf(e.currentTarget as HTMLFormElement));
          }}
        >
          ${this.#roleBoxes(u.roles)}
          <button class="small" type="submit" ?disabled=${a.busy}>Save roles</button>
        </form>
      </td>
      <td>${u.lastLoginAt ? formatDateTime(u.lastLoginAt) : 'never'}</td>
      <td class="row-actions">
        <button
          class="small"
          type="button"
          ?disabled=${a.busy}
          @click=${() => confirm(`Reset the password of "${u.username}"? Their sessions end.`) && a.resetPassword(u)}
        >
          Reset password
        </button>
        <button
          class="small danger"
          type="button"
          ?disabled=${a.busy}
          @click=${() => confirm(`Delete the user "${u.username}"?`) && a.deleteUser(u)}
        >
          Delete
        </button>
      </td>
    </tr>`;
  }

  #renderToken(t: TokenRecord) {
    const a = this.#accounts;
    return html`<tr>
      <th scope="row">${t.name}</th>
      <td>${t.roles.join(', ')}</td>
      <td>${t.expiresAt ? formatDateTime(t.expiresAt) : 'never'}</td>
      <td>${t.lastUsedAt ? formatDateTime(t.lastUsedAt) : 'never'}</td>
      <td class="row-actions">
        <button
          class="small danger"
          type="button"
          ?disabled=${a.busy}
          @click=${() => confirm(`Revoke the token "${t.name}"? Whoever uses it is refused from now on.`) && a.deleteToken(t)}
        >
          Revoke
        </button>
      </td>
    </tr>`;
  }

  #createUser(e: SubmitEvent): void {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void this.#accounts
      .createUser(String(data.get('username') ?? '').trim(), rolesOf(form), String(data.get('password') ?? ''))
      .then(() => !this.#accounts.error && form.reset());
  }

  #createToken(e: SubmitEvent): void {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const days = Number(data.get('days'));
    void this.#accounts
      .createToken(String(data.get('name') ?? '').trim(), rolesOf(form), days > 0 ? days : undefined)
      .then(() => !this.#accounts.error && form.reset());
  }
}

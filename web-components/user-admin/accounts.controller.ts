import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { fetchJson, postJson } from '../shared/api.ts';
import type { TokenRecord, UserRecord } from '../../server/auth/store.ts';

export type { TokenRecord, UserRecord };
export const ROLE_NAMES = ['read', 'ingest', 'admin'] as const;

/** What the last action handed out once and never again (a generated password, a new token). */
export interface Secret {
  title: string;
  value: string;
}

/**
 * Users and API tokens through the admin API (/api/users, /api/tokens): load, create, change roles, reset a
 * password, delete. Each action's outcome is `message` or `error`; a generated password or a new token is `secret`,
 * shown once.
 */
export class AccountsController implements ReactiveController {
  users: UserRecord[] = [];
  tokens: TokenRecord[] = [];
  phase: 'loading' | 'ready' | 'error' = 'loading';
  error = '';
  message = '';
  secret: Secret | undefined;
  busy = false;
  readonly #host: ReactiveControllerHost;

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {
    void this.load();
  }

  async load(): Promise<void> {
    try {
      [this.users, this.tokens] = await Promise.all([
        fetchJson<UserRecord[]>('/api/users'),
        fetchJson<TokenRecord[]>('/api/tokens'),
      ]);
      this.phase = 'ready';
    } catch (error) {
      this.phase = 'error';
      this.error = (error as Error).message;
    }
    this.#host.requestUpdate();
  }

  createUser(username: string, roles: string[], password: string): Promise<void> {
    return this.#act(async () => {
      const body = password ? { username, roles, password } : { username, roles };
      const user = await postJson<UserRecord & { password?: string }>('/api/users', body);
      this.message = `User "${user.username}" created.`;
      if (user.password) this.secret = { title: `Password of "${user.username}"`, value: user.password };
    });
  }

  setRoles(user: UserRecord, roles: string[]): Promise<void> {
    return this.#act(async () => {
      const updated = await fetchJson<UserRecord>(`/api/users/${user.id}/roles`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ roles }),
      });
      this.message = `Roles of "${updated.username}": ${updated.roles.join(', ')}.`;
    });
  }

  resetPassword(user: UserRecord): Promise<void> {
    return this.#act(async () => {
      const r = await postJson<{ password?: string; sessionsEnded: number }>(`/api/users/${user.id}/password`, {});
      this.message = `Password of "${user.username}" reset; ${r.sessionsEnded} session(s) ended.`;
      if (r.password) this.secret = { title: `New password of "${user.username}"`, value: r.password };
    });
  }

  deleteUser(user: UserRecord): Promise<void> {
    return this.#act(async () => {
      await fetchJson(`/api/users/${user.id}`, { method: 'DELETE' });
      this.message = `User "${user.username}" deleted.`;
    });
  }

  createToken(name: string, roles: string[], expiresInDays: number | undefined): Promise<void> {
    return this.#act(async () => {
      const t = await postJson<TokenRecord & { token: string }>('/api/tokens', {
        name,
        roles,
        ...(expiresInDays ? { expiresInDays } : {}),
      });
      this.message = `Token "${t.name}" created.`;
      this.secret = { title: `Token "${t.name}" (send as Authorization: Bearer …)`, value: t.token };
    });
  }

  deleteToken(token: TokenRecord): Promise<void> {
    return this.#act(async () => {
      await fetchJson(`/api/tokens/${token.id}`, { method: 'DELETE' });
      this.message = `Token "${token.name}" revoked.`;
    });
  }

  async #act(fn: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = '';
    this.message = '';
    this.secret = undefined;
    this.#host.requestUpdate();
    try {
      await fn();
      await this.load();
    } catch (error) {
      this.error = (error as Error).message;
    } finally {
      this.busy = false;
      this.#host.requestUpdate();
    }
  }
}

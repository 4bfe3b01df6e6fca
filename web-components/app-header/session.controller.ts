import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { fetchJson, postJson } from '../shared/api.ts';

/** GET /api/me (server/auth/routes.ts meJson). */
export interface Me {
  auth: boolean;
  kind: 'user' | 'token' | 'anonymous' | 'none';
  username?: string;
  roles: string[];
}

/** Who is signed in, for the header's account controls, and signing out. */
export class SessionController implements ReactiveController {
  me: Me | undefined;
  error = '';
  readonly #host: ReactiveControllerHost;

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {
    fetchJson<Me>('/api/me').then(
      (me) => {
        this.me = me;
        this.#host.requestUpdate();
      },
      () => undefined,
    );
  }

  get isUser(): boolean {
    return this.me?.kind === 'user';
  }

  get isAdmin(): boolean {
    return this.me?.roles.includes('admin') ?? false;
  }

  async signOut(): Promise<void> {
    try {
      await postJson('/api/logout');
    } catch {
      // Signed out already (an ended session): the sign-in page is where to go either way.
    }
    location.assign('/login');
  }
}

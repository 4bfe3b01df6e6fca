import type { ReactiveController, ReactiveControllerHost } from 'lit';

/**
 * Whether to point to initial-admin-password.txt: the server says so only while the first account still has the
 * password written there (GET /api/login/hint). Until it answers, and if it cannot, no hint is shown.
 */
export class LoginHintController implements ReactiveController {
  initialPassword = false;
  readonly #host: ReactiveControllerHost;

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {
    void fetch('/api/login/hint', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? (r.json() as Promise<{ initialPassword?: unknown }>) : {}))
      .then((body: { initialPassword?: unknown }) => {
        this.initialPassword = body.initialPassword === true;
        this.#host.requestUpdate();
      })
      .catch(() => undefined);
  }
}

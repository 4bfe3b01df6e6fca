import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { postJson } from '../shared/api.ts';

/** POST /api/me/password and what it answered. */
export class PasswordChangeController implements ReactiveController {
  phase: 'idle' | 'busy' | 'done' = 'idle';
  error = '';
  readonly #host: ReactiveControllerHost;

  constructor(host: ReactiveControllerHost) {
    this.#host = host;
    host.addController(this);
  }

  hostConnected(): void {}

  reset(): void {
    this.phase = 'idle';
    this.error = '';
    this.#host.requestUpdate();
  }

  async submit(currentPassword: string, newPassword: string): Promise<void> {
    this.phase = 'busy';
    this.error = '';
    this.#host.requestUpdate();
    try {
      await postJson('/api/me/password', { currentPassword, newPassword });
      this.phase = 'done';
    } catch (error) {
      this.phase = 'idle';
      this.error = (error as Error).message;
    }
    this.#host.requestUpdate();
  }
}

import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { fetchJson, type ResultJson } from '../shared/api.ts';

/**
 * Deleting a result (DELETE /api/results/:id, audited on the server) after the person confirms, naming what goes:
 * the result's files are removed for good, and links already handed out stop working.
 */
export class ResultDeleteController implements ReactiveController {
  pending = new Set<string>();
  errors = new Map<string, string>();
  readonly #host: ReactiveControllerHost;
  readonly #reload: () => Promise<void>;

  constructor(host: ReactiveControllerHost, reload: () => Promise<void>) {
    this.#host = host;
    this.#reload = reload;
    host.addController(this);
  }

  hostConnected(): void {}

  async confirmAndDelete(result: ResultJson): Promise<void> {
    const files = result.files.length;
    const ok = confirm(
      `Delete "${result.name}" and its ${files} file${files === 1 ? '' : 's'}? ` +
        'This cannot be undone; download links already handed out stop working.',
    );
    if (!ok) return;
    this.pending = new Set(this.pending).add(result.id);
    this.errors.delete(result.id);
    this.#host.requestUpdate();
    try {
      await fetchJson(`/api/results/${encodeURIComponent(result.id)}`, { method: 'DELETE' });
      await this.#reload();
    } catch (error) {
      this.errors = new Map(this.errors).set(result.id, `Not deleted: ${(error as Error).message}`);
    } finally {
      const pending = new Set(this.pending);
      pending.delete(result.id);
      this.pending = pending;
      this.#host.requestUpdate();
    }
  }
}

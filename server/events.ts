import { EventEmitter } from 'node:events';

/**
 * In-process bus for live updates (Server-Sent Events). Job changes made by workers in other
 * processes arrive through the database's NOTIFY and are re-emitted here by the serve process.
 */
export type GatewayEvent =
  | { type: 'job'; jobId: string; state: string; progress: number; status: string | null }
  | { type: 'ingest'; files: number; seriesInstanceUid?: string }
  | { type: 'result'; resultId: string; jobId: string };

export class Events {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Every SSE client adds a listener; the default cap of 10 would warn with a dozen open pages.
    this.#emitter.setMaxListeners(0);
  }

  emit(event: GatewayEvent): void {
    this.#emitter.emit('event', event);
  }

  subscribe(listener: (event: GatewayEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}

import type { CollectingSeries, LiveJob, QueueCounts } from './api.ts';

/** What /api/events sends (server/http/eventsRoutes.ts). */
export interface LiveHandlers {
  snapshot?(data: { jobs: LiveJob[]; counts: QueueCounts; collecting?: CollectingSeries[] }): void;
  /** The series being received (the whole list, each time it changes). */
  collecting?(data: { series: CollectingSeries[] }): void;
  job?(job: LiveJob): void;
  counts?(counts: QueueCounts): void;
  result?(data: { resultId: string; jobId: string }): void;
  ingest?(data: { files: number; seriesInstanceUid?: string }): void;
  connection?(state: 'live' | 'reconnecting'): void;
}

/**
 * A Server-Sent Events subscription that survives server restarts. EventSource retries on its own
 * after a dropped connection, but gives up for good when a reconnect gets an error status (a proxy's
 * 502 while the server restarts); then a new one is opened with backoff. Every (re)connection begins
 * with a snapshot, so nothing missed while away is lost.
 */
export function subscribeLive(handlers: LiveHandlers, url = '/api/events'): () => void {
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = 1000;
  let stopped = false;

  const on = <T>(name: string, fn: ((data: T) => void) | undefined): void => {
    if (!fn || !source) return;
    source.addEventListener(name, (e) => {
      try {
        fn(JSON.parse((e as MessageEvent<string>).data) as T);
      } catch {
        // A malformed message is dropped; the next snapshot repairs the view.
      }
    });
  };

  const connect = (): void => {
    if (stopped) return;
    source = new EventSource(url);
    on('snapshot', handlers.snapshot);
    on('job', handlers.job);
    on('counts', handlers.counts);
    on('result', handlers.result);
    on('ingest', handlers.ingest);
    on('collecting', handlers.collecting);
    source.onopen = () => {
      delay = 1000;
      handlers.connection?.('live');
    };
    source.onerror = () => {
      handlers.connection?.('reconnecting');
      if (source?.readyState === EventSource.CLOSED) {
        source.close();
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15_000);
      }
    };
  };

  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}

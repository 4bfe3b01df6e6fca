import { PassThrough } from 'node:stream';
import { Router } from '@koa/router';
import type { AppContext } from '../app/context.ts';
import type { GatewayEvent } from '../events.ts';
import { collectingSeries } from '../series/collectingSeries.ts';
import { jobsById, queueCounts, recentJobs } from './liveJobs.ts';
import { auditRequest } from '../auth/auditRequest.ts';

/**
 * GET /api/events: Server-Sent Events for the live queue.
 *
 * Wire format (each `data:` is JSON):
 *   event: snapshot   { jobs: LiveJob[], counts, collecting }   first message of every connection (and reconnection)
 *   event: job        LiveJob                        a job was added or changed
 *   event: counts     { added, queued, processing, left }
 *   event: collecting { series: CollectingSeries[] } the series being received (whole list, on each change)
 *   event: ingest     { files, seriesInstanceUid? }  files arrived
 *   event: result     { resultId, jobId }            a result is ready (the Files page reloads its list)
 * plus a comment line every HEARTBEAT_MS so proxies and the browser notice a dead connection.
 *
 * Progress can change many times a second; changes are coalesced per job and read from the
 * database once per FLUSH_MS for all clients, so the cost does not grow with open pages.
 */
export const HEARTBEAT_MS = 15_000;
const FLUSH_MS = 200;
const RETRY_MS = 2_000;

interface Client {
  write(chunk: string): void;
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

class LiveHub {
  readonly #deps: AppContext;
  readonly #clients = new Set<Client>();
  readonly #dirty = new Set<string>();
  /** An instance arrived or a job changed: the list of series being received is read again at the next flush. */
  #collectingDirty = false;
  /** Series whose instances arrived lately: a new one is shown without waiting for the next flush. */
  readonly #recentSeries = new Set<string>();
  #flushing = false;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: AppContext) {
    this.#deps = deps;
  }

  add(client: Client): () => void {
    this.#clients.add(client);
    this.#unsubscribe ??= this.#deps.events.subscribe((e) => this.#onEvent(e));
    return () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#dirty.clear();
        this.#collectingDirty = false;
      }
    };
  }

  #broadcast(chunk: string): void {
    for (const c of this.#clients) c.write(chunk);
  }

  #onEvent(event: GatewayEvent): void {
    if (event.type === 'job') {
      this.#dirty.add(event.jobId);
      this.#collectingDirty = true;
      this.#timer ??= setTimeout(() => void this.#flush(), FLUSH_MS);
    } else if (event.type === 'ingest') {
      this.#broadcast(frame('ingest', { files: event.files, seriesInstanceUid: event.seriesInstanceUid }));
      if (event.seriesInstanceUid) {
        this.#collectingDirty = true;
        // A series' first instance is shown at once ("receiving"); later ones only update its count.
        const first = !this.#recentSeries.has(event.seriesInstanceUid);
        if (first) {
          if (this.#recentSeries.size >= 1000) this.#recentSeries.clear();
          this.#recentSeries.add(event.seriesInstanceUid);
          if (!this.#flushing) {
            clearTimeout(this.#timer);
            this.#timer = setTimeout(() => void this.#flush(), 0);
          }
        }
        this.#timer ??= setTimeout(() => void this.#flush(), FLUSH_MS);
      }
    } else {
      this.#broadcast(frame('result', { resultId: event.resultId, jobId: event.jobId }));
    }
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    const collecting = this.#collectingDirty;
    this.#collectingDirty = false;
    try {
      const [jobs, counts, series] = await Promise.all([
        ids.length > 0 ? jobsById(this.#deps.db, ids) : [],
        ids.length > 0 ? queueCounts(this.#deps.db) : undefined,
        collecting ? collectingSeries(this.#deps.db) : undefined,
      ]);
      // Jobs before the receiving list: a series whose job just appeared leaves the list in the same update.
      for (const job of jobs) this.#broadcast(frame('job', job));
      if (counts) this.#broadcast(frame('counts', counts));
      if (series) this.#broadcast(frame('collecting', { series }));
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'live queue update failed');
    } finally {
      this.#flushing = false;
      this.#timer = undefined;
      if ((this.#dirty.size > 0 || this.#collectingDirty) && this.#clients.size > 0)
        this.#timer = setTimeout(() => void this.#flush(), FLUSH_MS);
    }
  }
}

export function eventsRouter(deps: AppContext): Router {
  const router = new Router();
  const hub = new LiveHub(deps);

  router.get('/api/events', async (ctx) => {
    const stream = new PassThrough();
    // Queue events from the moment of subscription, so nothing between snapshot query and send is lost.
    const pending: string[] = [];
    let live = false;
    const client: Client = { write: (chunk) => (live ? stream.write(chunk) : pending.push(chunk)) };
    const remove = hub.add(client);
    const heartbeat = setInterval(() => stream.write(`: keep-alive ${Date.now()}\n\n`), HEARTBEAT_MS);
    const close = (): void => {
      clearInterval(heartbeat);
      remove();
      stream.end();
    };
    ctx.req.on('close', close);
    stream.on('error', close);

    let snapshot: [
      Awaited<ReturnType<typeof recentJobs>>,
      Awaited<ReturnType<typeof queueCounts>>,
      Awaited<ReturnType<typeof collectingSeries>>,
    ];
    try {
      snapshot = await Promise.all([recentJobs(deps.db), queueCounts(deps.db), collectingSeries(deps.db)]);
    } catch (error) {
      close();
      throw error;
    }
    const [jobs, counts, collecting] = snapshot;
    // Job rows carry whose scan they are; the stream's later rows are the same reader's, audited here once.
    const withPatientData = jobs.filter((j) => j.subject).length;
    if (withPatientData > 0) {
      await auditRequest(deps, ctx, {
        event: 'patient-data-read',
        details: { endpoint: 'events', jobs: withPatientData },
      });
    }
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setKeepAlive(true);
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('Connection', 'keep-alive');
    // Stops nginx and similar proxies from buffering the stream.
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;
    ctx.type = 'text/event-stream; charset=utf-8';
    stream.write(`retry: ${RETRY_MS}\n\n`);
    stream.write(frame('snapshot', { jobs, counts, collecting }));
    live = true;
    for (const chunk of pending.splice(0)) stream.write(chunk);
  });

  return router;
}

import Router from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { principalOf } from '../auth/principal.ts';
import { viewerStatus, type ViewerStatus } from '../viewer/viewerDist.ts';

export interface Health {
  status: 'ok' | 'degraded' | 'down';
  database: { ok: boolean; driver: string; error?: string };
  worker:
    | { alive: boolean; running: number; concurrency: number; lastLoopAt: string | null }
    | { alive: false; reason: string };
  engine: { name: string; reason: string } | null;
  disk: { freeMb: number | null; minFreeMb: number; ok: boolean };
  /** The built-in OHIF viewer at /viewer/ (optional: its absence degrades nothing else). */
  viewer: ViewerStatus;
  uptimeSeconds: number;
}

export async function checkHealth(deps: AppContext): Promise<Health> {
  let database: Health['database'];
  try {
    await deps.db.query('SELECT 1');
    database = { ok: true, driver: deps.db.driver };
  } catch (err) {
    database = { ok: false, driver: deps.db.driver, error: (err as Error).message };
  }
  const w = deps.runtime?.worker?.status();
  const worker: Health['worker'] = w
    ? { ...w, lastLoopAt: w.lastLoopAt ? w.lastLoopAt.toISOString() : null }
    : { alive: false, reason: 'no worker in this process (WORKER_CONCURRENCY=0); run `worker` processes' };
  const freeMb = await deps.storage.freeSpaceMb().catch(() => null);
  const disk = {
    freeMb,
    minFreeMb: deps.config.minFreeDiskMb,
    ok: freeMb === null || freeMb >= deps.config.minFreeDiskMb,
  };
  const status: Health['status'] = !database.ok ? 'down' : disk.ok && (!w || w.alive) ? 'ok' : 'degraded';
  return {
    status,
    database,
    worker,
    engine: deps.engine ? { name: deps.engine.engine.name, reason: deps.engine.reason } : null,
    disk,
    viewer: (({ available, version, reason }) => ({ available, version, ...(reason ? { reason } : {}) }))(
      viewerStatus(deps.viewerDist),
    ),
    uptimeSeconds: deps.runtime ? Math.round((Date.now() - deps.runtime.startedAt.getTime()) / 1000) : 0,
  };
}

/**
 * GET /healthz: 200 while the service can take work, 503 when the database is unreachable. Callers who are not
 * signed in (a load balancer, anyone on the network) get the status only: the engine, database driver, free disk
 * and worker state tell an attacker what runs here, so they go to signed-in users and API tokens (any role).
 */
export function healthRouter(deps: AppContext): Router {
  const router = new Router();
  router.get('/healthz', async (ctx) => {
    const health = await checkHealth(deps);
    ctx.status = health.status === 'down' ? 503 : 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = principalOf(ctx) ? health : { status: health.status };
  });
  return router;
}

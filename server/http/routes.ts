import type Router from '@koa/router';
import type { AppDeps } from './deps.ts';
import { healthRouter } from './healthRoutes.ts';
import { jobsRouter } from './jobsRoutes.ts';
import { resultsRouter } from './resultsRoutes.ts';
import { downloadsRouter } from './downloadsRoutes.ts';
import { eventsRouter } from './eventsRoutes.ts';
import { pagesRouter } from './pagesRoutes.ts';
import { ingestRouter } from '../ingest/routes.ts';
import { authRouter } from '../auth/routes.ts';
import { pacsRouter } from '../pacs/routes.ts';
import { viewerRouter } from '../viewer/viewerRoutes.ts';

/** Every route module of the HTTP server, in the order they are tried. One line each. */
export function allRouters(deps: AppDeps): Router[] {
  return [
    healthRouter(deps),
    authRouter(deps),
    jobsRouter(deps),
    resultsRouter(deps),
    downloadsRouter(deps),
    eventsRouter(deps),
    pagesRouter(deps, deps.webDist),
    ingestRouter(deps),
    pacsRouter(deps),
    viewerRouter(deps.viewerDist),
  ];
}

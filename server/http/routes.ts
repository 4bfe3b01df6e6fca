import type Router from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { healthRouter } from './healthRoutes.ts';
import { jobsRouter } from './jobsRoutes.ts';
import { resultsRouter } from './resultsRoutes.ts';
import { downloadsRouter } from './downloadsRoutes.ts';
import { eventsRouter } from './eventsRoutes.ts';
import { pagesRouter } from './pagesRoutes.ts';
import { dicomwebRouter } from '../dicomweb/routes.ts';
import { uploadsRouter } from '../ingest/uploadRoute.ts';
import { authRouter } from '../auth/routes.ts';
import { pacsRouter } from '../pacs/routes.ts';
import { viewerRouter } from './viewerRoutes.ts';

/** Every route module of the HTTP server, in the order they are tried. One line each. */
export function allRouters(deps: AppContext): Router[] {
  return [
    healthRouter(deps),
    authRouter(deps),
    jobsRouter(deps),
    resultsRouter(deps),
    downloadsRouter(deps),
    eventsRouter(deps),
    pagesRouter(deps, deps.webDist),
    dicomwebRouter(deps),
    uploadsRouter(deps),
    pacsRouter(deps),
    viewerRouter(deps.viewerDist, deps),
  ];
}

import { Router } from '@koa/router';
import type { AppDeps } from '../http/deps.ts';
import { dicomwebRouter } from '../dicomweb/routes.ts';
import { uploadsRouter } from './uploadRoute.ts';

/** Every way in over HTTP: DICOMweb (STOW/QIDO/WADO) and the browser upload form. */
export function ingestRouter(deps: AppDeps): Router {
  const router = new Router();
  const dicomweb = dicomwebRouter(deps);
  const uploads = uploadsRouter(deps);
  router.use(dicomweb.routes(), dicomweb.allowedMethods());
  router.use(uploads.routes(), uploads.allowedMethods());
  return router;
}

import { Router } from '@koa/router';
import { handleStow } from './stow.ts';
import { qidoSearch, type QidoLevel } from './qido.ts';
import { handleRetrieve } from './wado.ts';
import { dicomwebBaseUrl } from './urls.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import type { DicomwebDeps } from './deps.ts';
import type { Context } from 'koa';

/** DICOMweb under /dicomweb: STOW-RS, QIDO-RS and WADO-RS (instance, series and study retrieve). */
export function dicomwebRouter(deps: DicomwebDeps): Router {
  const router = new Router({ prefix: '/dicomweb' });

  router.post('/studies', async (ctx) => handleStow(deps, ctx, undefined));
  router.post('/studies/:study', async (ctx) => handleStow(deps, ctx, ctx.params.study));

  const search = async (ctx: Context, level: QidoLevel, fixed: Record<string, string>): Promise<void> => {
    for (const v of Object.values(fixed)) if (!isUsableUid(v)) throw httpError(400, 'a UID in the URL is not valid');
    const accept = ctx.get('Accept');
    if (accept && !/application\/(dicom\+)?json|\*\/\*|application\/\*/i.test(accept)) {
      throw httpError(406, 'search results are available as application/dicom+json only');
    }
    const { results, warning } = await qidoSearch(deps, level, ctx.query, fixed, dicomwebBaseUrl(deps.config, ctx));
    if (warning) ctx.set('Warning', warning);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/dicom+json';
    ctx.body = JSON.stringify(results);
  };
  router.get('/studies', (ctx) => search(ctx, 'studies', {}));
  router.get('/series', (ctx) => search(ctx, 'series', {}));
  router.get('/instances', (ctx) => search(ctx, 'instances', {}));
  router.get('/studies/:study/series', (ctx) => search(ctx, 'series', { StudyInstanceUID: ctx.params.study }));
  router.get('/studies/:study/instances', (ctx) => search(ctx, 'instances', { StudyInstanceUID: ctx.params.study }));
  router.get('/studies/:study/series/:series/instances', (ctx) =>
    search(ctx, 'instances', { StudyInstanceUID: ctx.params.study, SeriesInstanceUID: ctx.params.series }),
  );

  router.get('/studies/:study', (ctx) => handleRetrieve(deps, ctx, ctx.params.study));
  router.get('/studies/:study/series/:series', (ctx) => handleRetrieve(deps, ctx, ctx.params.study, ctx.params.series));
  router.get('/studies/:study/series/:series/instances/:instance', (ctx) =>
    handleRetrieve(deps, ctx, ctx.params.study, ctx.params.series, ctx.params.instance),
  );

  return router;
}

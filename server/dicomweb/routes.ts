import { Router } from '@koa/router';
import { handleStow } from './stow.ts';
import { qidoSearch } from './qido.ts';
import type { QidoLevel } from './qidoLevel.ts';
import { handleRetrieve } from './wado.ts';
import { handleMetadata } from './metadataRoute.ts';
import { handleBulk, handleFrames } from './framesRoute.ts';
import { handleRendered, handleThumbnail } from './renderedRoute.ts';
import { dicomwebBaseUrl } from './urls.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import type { DicomwebDeps } from './deps.ts';
import type { Context } from 'koa';
import { audited, noteRead } from './readAudit.ts';

/**
 * DICOMweb under /dicomweb: STOW-RS, QIDO-RS and WADO-RS (instances, metadata, frames, bulk data,
 * rendered images and thumbnails at study, series and instance level).
 */
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
    const texts = (tag: string): string[] => results.flatMap((r) => (r[tag]?.Value ?? []).map(String));
    noteRead(ctx, {
      studies: texts('0020000D'),
      series: level === 'studies' ? undefined : texts('0020000E'),
      matches: results.length,
      queryKeys: [...Object.keys(fixed), ...Object.keys(ctx.query)],
    });
    if (warning) ctx.set('Warning', warning);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/dicom+json';
    ctx.body = JSON.stringify(results);
  };
  const query = (level: QidoLevel, handle: (ctx: Context) => Promise<void>) =>
    audited(deps, 'dicomweb-query', level, handle);
  router.get(
    '/studies',
    query('studies', (ctx) => search(ctx, 'studies', {})),
  );
  router.get(
    '/series',
    query('series', (ctx) => search(ctx, 'series', {})),
  );
  router.get(
    '/instances',
    query('instances', (ctx) => search(ctx, 'instances', {})),
  );
  router.get(
    '/studies/:study/series',
    query('series', (ctx) => search(ctx, 'series', { StudyInstanceUID: ctx.params.study })),
  );
  router.get(
    '/studies/:study/instances',
    query('instances', (ctx) => search(ctx, 'instances', { StudyInstanceUID: ctx.params.study })),
  );
  router.get(
    '/studies/:study/series/:series/instances',
    query('instances', (ctx) =>
      search(ctx, 'instances', { StudyInstanceUID: ctx.params.study, SeriesInstanceUID: ctx.params.series }),
    ),
  );

  const base = (ctx: Context): string => dicomwebBaseUrl(deps.config, ctx);
  const study = (ctx: Context) => ({ study: ctx.params.study });
  const series = (ctx: Context) => ({ study: ctx.params.study, series: ctx.params.series });
  const instance = (ctx: Context) => ({
    study: ctx.params.study,
    series: ctx.params.series,
    instance: ctx.params.instance,
  });
  const S = '/studies/:study';
  const SE = `${S}/series/:series`;
  const I = `${SE}/instances/:instance`;

  // Instances leave the server (Begin Transferring); the rest is looked at (Instances Accessed).
  const send = (handle: (ctx: Context) => Promise<void>) => audited(deps, 'dicomweb-retrieve', 'instances', handle);
  const look = (what: string, handle: (ctx: Context) => Promise<void>) =>
    audited(deps, 'dicomweb-access', what, handle);
  router.get(
    S,
    send((ctx) => handleRetrieve(deps, ctx, study(ctx), base(ctx))),
  );
  router.get(
    SE,
    send((ctx) => handleRetrieve(deps, ctx, series(ctx), base(ctx))),
  );
  router.get(
    I,
    send((ctx) => handleRetrieve(deps, ctx, instance(ctx), base(ctx))),
  );
  for (const [path, key] of [
    [`${S}/metadata`, study],
    [`${SE}/metadata`, series],
    [`${I}/metadata`, instance],
  ] as const) {
    router.get(
      path,
      look('metadata', (ctx) => handleMetadata(deps, ctx, key(ctx), base(ctx))),
    );
  }
  router.get(
    `${I}/frames/:frames`,
    look('frames', (ctx) => handleFrames(deps, ctx, instance(ctx), ctx.params.frames)),
  );
  router.get(
    `${I}/bulk/*path`,
    look('bulk', (ctx) => {
      const path = (ctx.params as Record<string, string | string[]>).path;
      return handleBulk(deps, ctx, instance(ctx), Array.isArray(path) ? path.join('/') : path);
    }),
  );
  router.get(
    `${I}/rendered`,
    look('rendered', (ctx) => handleRendered(deps, ctx, instance(ctx), undefined)),
  );
  router.get(
    `${I}/frames/:frames/rendered`,
    look('rendered', (ctx) => handleRendered(deps, ctx, instance(ctx), ctx.params.frames)),
  );
  router.get(
    `${S}/thumbnail`,
    look('thumbnail', (ctx) => handleThumbnail(deps, ctx, study(ctx))),
  );
  router.get(
    `${SE}/thumbnail`,
    look('thumbnail', (ctx) => handleThumbnail(deps, ctx, series(ctx))),
  );
  router.get(
    `${I}/thumbnail`,
    look('thumbnail', (ctx) => handleThumbnail(deps, ctx, instance(ctx))),
  );
  router.get(
    `${I}/frames/:frames/thumbnail`,
    look('thumbnail', (ctx) => handleRendered(deps, ctx, instance(ctx), ctx.params.frames, true)),
  );

  return router;
}

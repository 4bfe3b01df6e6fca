import type { Context } from 'koa';
import { koaBody } from 'koa-body';
import { httpError } from '../errors.ts';
import { queueSeriesNow, type QueuedNow } from '../series/queueSeriesNow.ts';
import type { GroupingDeps } from '../series/processJobForSeries.ts';

/** At most this many series in one "upload complete" request (a batch of files rarely holds more than a few). */
export const MAX_COMPLETE_SERIES = 1000;

export const parseCompleteBody = koaBody({
  json: true,
  urlencoded: false,
  text: false,
  multipart: false,
  jsonLimit: '256kb',
  jsonStrict: true,
});

/**
 * POST /api/uploads/complete `{ "series": [uid, ...] }`: the upload page has had an answer for every file of a batch,
 * so the series it sent are whole and are queued now instead of after the quiet period. Answers per series with the
 * job made, or why none was (api.md).
 */
export async function completeUpload(deps: GroupingDeps, ctx: Context): Promise<{ series: QueuedNow[] }> {
  if (!ctx.is('application/json')) throw httpError(415, 'Send the request as application/json.');
  const body = ctx.request.body as unknown;
  const list = (body as { series?: unknown } | null)?.series;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string'))
    throw httpError(400, 'Give "series": the Series Instance UIDs the upload sent, as a list of strings.');
  if (list.length > MAX_COMPLETE_SERIES) throw httpError(400, `At most ${MAX_COMPLETE_SERIES} series at once.`);
  const series: QueuedNow[] = [];
  for (const uid of [...new Set(list as string[])]) series.push(await queueSeriesNow(deps, uid));
  return { series };
}

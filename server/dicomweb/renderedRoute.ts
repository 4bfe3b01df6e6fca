import type { Context } from 'koa';
import type { DicomwebDeps } from './deps.ts';
import { httpError } from '../errors.ts';
import { chooseRenderedType } from './accept.ts';
import { loadPixelSource, parseFrameList } from './frames.ts';
import { readInstanceDataset } from './instanceDataset.ts';
import { findInstances, type InstanceKey, type ServedInstance } from './instances.ts';
import { encodeImage, fitToViewport, parseRenderQuery, renderFrame } from './rendered.ts';
import { ensureFilesPresent } from './wado.ts';

/**
 * Rendered resources and thumbnails (PS3.18 §10.4.1.1.3, §10.4.1.1.5). An instance renders its first
 * frame (or the frame asked for); a series or study thumbnail is its middle image instance.
 */

async function renderInstance(
  deps: DicomwebDeps,
  ctx: Context,
  inst: ServedInstance,
  frame: number | undefined,
  thumbnail: boolean,
): Promise<void> {
  const type = chooseRenderedType(ctx.get('Accept').trim());
  const opts = parseRenderQuery(ctx.query, thumbnail);
  await ensureFilesPresent(deps, [inst]);
  const ds = await readInstanceDataset(inst.path);
  if (!ds.hasPixelData) throw httpError(404, 'this instance has no image to render', { code: 'no-pixel-data' });
  const src = await loadPixelSource(inst.path, inst.transferSyntaxUid);
  const n = frame ?? 1;
  if (n > src.fmt.numberOfFrames) throw httpError(404, `frame ${n} does not exist`);
  const img = fitToViewport(await renderFrame(src, ds.dict, n, opts), opts.viewport);
  ctx.set('Cache-Control', 'no-store');
  ctx.type = type;
  ctx.body = encodeImage(img, type, opts.quality);
}

export async function handleRendered(
  deps: DicomwebDeps,
  ctx: Context,
  key: Required<InstanceKey>,
  frameList: string | undefined,
  thumbnail = false,
): Promise<void> {
  const [inst] = await findInstances(deps, key);
  let frame: number | undefined;
  if (frameList !== undefined) {
    const frames = parseFrameList(frameList, Number.MAX_SAFE_INTEGER);
    if (frames.length !== 1) throw httpError(400, 'a rendered frame is one frame number');
    frame = frames[0];
  }
  await renderInstance(deps, ctx, inst, frame, thumbnail);
}

/** Thumbnail of a series or study: its middle instance that has pixels (SEG and SR are skipped). */
export async function handleThumbnail(deps: DicomwebDeps, ctx: Context, key: InstanceKey): Promise<void> {
  if (key.instance) {
    await handleRendered(deps, ctx, key as Required<InstanceKey>, undefined, true);
    return;
  }
  const all = await findInstances(deps, key);
  const firstSeries = all.find((f) => !/^1\.2\.840\.10008\.5\.1\.4\.1\.1\.(66|88)/.test(f.sopClassUid))?.seriesUid;
  const images = all.filter((f) => f.seriesUid === firstSeries);
  if (images.length === 0) throw httpError(404, 'nothing here has an image to show', { code: 'no-pixel-data' });
  await renderInstance(deps, ctx, images[Math.floor(images.length / 2)], undefined, true);
}

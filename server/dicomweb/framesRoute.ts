import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { DicomwebDeps } from './deps.ts';
import { httpError } from '../errors.ts';
import { chooseFrameSyntax, EXPLICIT_VR_LE, frameMediaType } from './accept.ts';
import { decodedFrame, isNative, loadPixelSource, parseFrameList, storedFrame, type PixelSource } from './frames.ts';
import { readInstanceDataset, type DicomDict, type DictElement } from './instanceDataset.ts';
import { findInstances } from './instances.ts';
import { multipartBody, newBoundary, type Part } from './multipartWriter.ts';
import { instanceUrl } from './urls.ts';
import { ensureFilesPresent } from './wado.ts';

/**
 * WADO-RS frames (`.../frames/{list}`, PS3.18 §10.4.1.1.4) and bulk data (the BulkDataURIs metadata
 * gives, `.../bulk/<tag>[/<item>/<tag>...]`). Frames come uncompressed (decoded) unless the request
 * names the stored syntax or `transfer-syntax=*`; Pixel Data as bulk data is every frame, likewise.
 */

type Key = { study: string; series: string; instance: string };

async function pixelSourceFor(deps: DicomwebDeps, key: Key): Promise<{ src: PixelSource; url: string }> {
  const [inst] = await findInstances(deps, key);
  await ensureFilesPresent(deps, [inst]);
  return {
    src: await loadPixelSource(inst.path, inst.transferSyntaxUid),
    url: instanceUrl('', key.study, key.series, key.instance),
  };
}

async function sendFrames(ctx: Context, src: PixelSource, frames: number[]): Promise<void> {
  const choice = chooseFrameSyntax(ctx.get('Accept').trim(), src.transferSyntax);
  const asStored = choice.syntax === '*' || (!isNative(src.transferSyntax) && choice.syntax === src.transferSyntax);
  const syntax = asStored && !isNative(src.transferSyntax) ? src.transferSyntax : EXPLICIT_VR_LE;
  const partType = `${frameMediaType(syntax)}; transfer-syntax=${syntax}`;
  // Frames are produced before the status goes out, so a frame that cannot be decoded is a clean error.
  const bodies: Buffer[] = [];
  for (const n of frames) bodies.push(asStored ? storedFrame(src, n) : await decodedFrame(src, n));
  const boundary = newBoundary();
  const parts: Part[] = bodies.map((body) => ({ contentType: partType, length: body.length, body }));
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 200;
  ctx.set('Content-Type', `multipart/related; type="${frameMediaType(syntax)}"; boundary=${boundary}`);
  ctx.body = Readable.from(multipartBody(parts, boundary));
}

/** At most this many frames per request: each is held until the response starts. */
const MAX_FRAMES_PER_REQUEST = 256;

export async function handleFrames(deps: DicomwebDeps, ctx: Context, key: Key, list: string): Promise<void> {
  const { src } = await pixelSourceFor(deps, key);
  const frames = parseFrameList(list, src.fmt.numberOfFrames);
  if (frames.length > MAX_FRAMES_PER_REQUEST) {
    throw httpError(400, `at most ${MAX_FRAMES_PER_REQUEST} frames per request`);
  }
  await sendFrames(ctx, src, frames);
}

function resolveBulk(dict: DicomDict, path: string[]): DictElement | undefined {
  let current: DicomDict | undefined = dict;
  for (let i = 0; i < path.length; i += 2) {
    const el: DictElement | undefined = current?.[path[i].toUpperCase()];
    if (!el) return undefined;
    if (i + 1 === path.length) return el;
    const item = Number(path[i + 1]);
    if (el.vr !== 'SQ' || !Number.isInteger(item)) return undefined;
    current = (el.Value as DicomDict[] | undefined)?.[item];
  }
  return undefined;
}

export async function handleBulk(deps: DicomwebDeps, ctx: Context, key: Key, rest: string): Promise<void> {
  const path = rest.split('/').filter(Boolean);
  if (
    path.length === 0 ||
    path.length % 2 === 0 ||
    path.some((p, i) => (i % 2 === 0 ? !/^[0-9A-Fa-f]{8}$/.test(p) : !/^\d+$/.test(p)))
  ) {
    throw httpError(404, 'no such bulk data');
  }
  if (path.length === 1 && ['7FE00010', '7FE00008', '7FE00009'].includes(path[0].toUpperCase())) {
    const { src } = await pixelSourceFor(deps, key);
    if (src.fmt.numberOfFrames > MAX_FRAMES_PER_REQUEST) {
      throw httpError(400, `this instance has ${src.fmt.numberOfFrames} frames: ask for them with .../frames/{list}`);
    }
    await sendFrames(
      ctx,
      src,
      Array.from({ length: src.fmt.numberOfFrames }, (_, i) => i + 1),
    );
    return;
  }
  const [inst] = await findInstances(deps, key);
  await ensureFilesPresent(deps, [inst]);
  const el = resolveBulk((await readInstanceDataset(inst.path)).dict, path);
  const values = el?.Value ?? [];
  const chunks = values.filter((v): v is ArrayBuffer => v instanceof ArrayBuffer).map((v) => Buffer.from(v));
  if (!el || chunks.length === 0) throw httpError(404, 'no such bulk data');
  const accept = ctx.get('Accept').trim();
  if (accept && !/multipart\/related|\*\/\*|multipart\/\*/i.test(accept)) {
    throw httpError(406, 'bulk data is sent as multipart/related; type="application/octet-stream"');
  }
  const body = Buffer.concat(chunks);
  const boundary = newBoundary();
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 200;
  ctx.set('Content-Type', `multipart/related; type="application/octet-stream"; boundary=${boundary}`);
  ctx.body = Readable.from(
    multipartBody([{ contentType: 'application/octet-stream', length: body.length, body }], boundary),
  );
}

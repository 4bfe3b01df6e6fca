import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Context } from 'koa';
import { Router } from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { fail } from '../downloads/fail.ts';
import { WEB_DIST } from './webAssets.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

// The content security policy and the other security headers are set for every response by securityHeaders.ts.
export { PAGE_CSP } from './securityHeaders.ts';

/** Built file names carry a content hash ("upload-X3DE7MS4.js"): safe to cache for a year. */
const HASHED = /-[A-Za-z0-9]{8,}\.[a-z0-9]+$/;

async function sendFile(ctx: Context, path: string, cacheControl: string): Promise<void> {
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  let file = path;
  let info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) fail(404, 'Not found.');
  ctx.vary('Accept-Encoding');
  if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
    const gz = await stat(`${path}.gz`).catch(() => undefined);
    if (gz?.isFile()) {
      file = `${path}.gz`;
      info = gz;
      ctx.set('Content-Encoding', 'gzip');
    }
  }
  const etag = `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
  ctx.set('Cache-Control', cacheControl);
  ctx.set('ETag', etag);
  ctx.type = type;
  if (ctx.get('If-None-Match') === etag) {
    ctx.status = 304;
    return;
  }
  ctx.set('Content-Length', String(info.size));
  ctx.body = createReadStream(file);
}

/** GET /, /upload, /files (the Lit pages) and /assets/* (the bundle from scripts/build-web.ts). */
export function pagesRouter(_deps: AppContext, dist: string = WEB_DIST): Router {
  const router = new Router();
  const assets = join(dist, 'assets');

  const page = (file: string) => async (ctx: Context) => {
    const path = join(dist, file);
    if (!(await stat(path).catch(() => undefined))) {
      fail(503, 'The web pages are not built. Run "npm run build" (npm start does it first).');
    }
    // Pages are tiny and name the current hashed assets: always revalidate.
    await sendFile(ctx, path, 'no-cache');
  };

  router.get('/', page('index.html'));
  router.get('/upload', page('index.html'));
  router.get('/files', page('files.html'));
  router.get('/pacs', page('pacs.html'));
  router.get('/login', page('login.html'));
  router.get('/admin', page('admin.html'));

  router.get(/^\/assets\/(.+)$/, async (ctx) => {
    const relative = decodeURIComponent(ctx.path.slice('/assets/'.length));
    if (!/^[A-Za-z0-9._/-]+$/.test(relative) || relative.includes('..') || relative.endsWith('.gz'))
      fail(404, 'Not found.');
    const path = normalize(join(assets, relative));
    if (!path.startsWith(assets + sep)) fail(404, 'Not found.');
    await sendFile(ctx, path, HASHED.test(relative) ? 'public, max-age=31536000, immutable' : 'public, max-age=3600');
  });

  return router;
}

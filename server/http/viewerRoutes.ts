import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Context } from 'koa';
import { Router } from '@koa/router';
import { httpError } from '../errors.ts';
import type { AuditDeps } from '../audit/audit.ts';
import { auditPatientDataRead } from '../auth/auditRequest.ts';
import { viewerCsp } from './securityHeaders.ts';
import {
  appConfig,
  inlineScriptHashes,
  rewriteCss,
  rewriteIndexHtml,
  rewriteScript,
  WEBPACK_PUBLIC_PATH,
} from '../viewer/viewerRewrites.ts';
import { viewerStatus } from '../viewer/viewerDist.ts';

/**
 * The OHIF viewer at /viewer/: its prebuilt files, with the rewrites that move it off "/" made once
 * per file on first request and kept (with a gzip twin) in memory; the other files (images, WASM,
 * chunks without a public path) are streamed from disk. Any other path is the app's own route
 * (`/viewer/viewer?StudyInstanceUIDs=…`) and gets index.html.
 */

export const VIEWER_BASE = '/viewer/';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.xml': 'application/xml; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
};

/** Webpack's content hash in a name ("app.bundle.0f6159c501addfe9.js", "a34f9d1faa5f3315.woff2"). */
const HASHED = /(^|[.])[0-9a-f]{16}\.[a-z0-9]+$/;

interface Rewritten {
  body: Buffer;
  gz: Buffer;
  etag: string;
}

const gzipAsync = promisify(gzip);

async function rewritten(text: string): Promise<Rewritten> {
  const body = Buffer.from(text, 'utf8');
  return { body, gz: await gzipAsync(body), etag: `"${body.length.toString(36)}-${hashOf(body)}"` };
}

function hashOf(b: Buffer): string {
  let h = 0;
  for (let i = 0; i < b.length; i += 997) h = (h * 31 + b[i]) | 0;
  return (h >>> 0).toString(36);
}

/** The studies a viewer address opens (`?StudyInstanceUIDs=a,b` or repeated), for the audit row of the view. */
export function viewedStudies(query: Record<string, string | string[] | undefined>): string[] {
  const raw = query.StudyInstanceUIDs ?? query.studyInstanceUIDs;
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .slice(0, 1000);
}

export function viewerRouter(dist?: string, audit?: AuditDeps): Router {
  const router = new Router();
  const status = viewerStatus(dist);
  const root = status.dist;
  const cache = new Map<string, Promise<Rewritten | null>>();
  let index: Promise<{ page: Rewritten; csp: string }> | undefined;

  const indexPage = (): Promise<{ page: Rewritten; csp: string }> => {
    index ??= readFile(join(root, 'index.html'), 'utf8').then(async (html) => {
      const out = rewriteIndexHtml(html, VIEWER_BASE);
      return { page: await rewritten(out), csp: viewerCsp(inlineScriptHashes(out)) };
    });
    return index;
  };

  /** The rewritten text of a file that needs a rewrite, or null for one served as it is. */
  const rewrite = (path: string): Promise<Rewritten | null> => {
    let p = cache.get(path);
    if (!p) {
      p = (async () => {
        const ext = extname(path);
        if (ext !== '.js' && ext !== '.css') return null;
        const text = await readFile(path, 'utf8');
        if (ext === '.css') return text.includes('url(/') ? rewritten(rewriteCss(text, VIEWER_BASE)) : null;
        return text.includes(WEBPACK_PUBLIC_PATH) ? rewritten(rewriteScript(text, VIEWER_BASE)) : null;
      })();
      cache.set(path, p);
      p.catch(() => cache.delete(path));
    }
    return p;
  };

  const send = (ctx: Context, r: Rewritten, type: string, cacheControl: string): void => {
    ctx.set('Cache-Control', cacheControl);
    ctx.set('ETag', r.etag);
    ctx.vary('Accept-Encoding');
    ctx.type = type;
    if (ctx.get('If-None-Match') === r.etag) {
      ctx.status = 304;
      return;
    }
    const useGzip = ctx.acceptsEncodings('gzip', 'identity') === 'gzip';
    if (useGzip) ctx.set('Content-Encoding', 'gzip');
    ctx.body = useGzip ? r.gz : r.body;
  };

  router.get(/^\/viewer$/, (ctx) => {
    ctx.redirect(`${VIEWER_BASE}${ctx.querystring ? `?${ctx.querystring}` : ''}`);
  });

  router.get(/^\/viewer\/(.*)$/, async (ctx) => {
    if (!status.available)
      throw httpError(503, `The viewer is not available: ${status.reason}.`, { code: 'viewer-missing', expose: true });
    const relative = decodeURIComponent(ctx.path.slice(VIEWER_BASE.length));
    const { page, csp } = await indexPage();
    ctx.set('Content-Security-Policy', csp);
    if (relative === 'app-config.js') {
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = TYPES['.js'];
      ctx.body = appConfig(VIEWER_BASE);
      return;
    }
    const path = normalize(join(root, relative));
    const info =
      relative !== '' && relative !== 'index.html' && path.startsWith(root + sep) && !relative.includes('\0')
        ? await stat(path).catch(() => undefined)
        : undefined;
    if (!info?.isFile()) {
      send(ctx, page, TYPES['.html'], 'no-cache');
      // Opening the viewer on a study is a look at it; the images it then fetches are audited by DICOMweb.
      const studies = viewedStudies(ctx.query);
      if (audit && studies.length > 0) {
        await auditPatientDataRead(
          audit,
          ctx,
          { event: 'viewer-open', what: 'viewer', studies, status: ctx.status },
          'success',
        );
      }
      return;
    }
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const cacheControl = HASHED.test(relative) ? 'public, max-age=31536000, immutable' : 'public, max-age=3600';
    const r = await rewrite(path);
    if (r) {
      send(ctx, r, type, cacheControl);
      return;
    }
    const etag = `"${info.size.toString(36)}-${Math.floor(info.mtimeMs).toString(36)}"`;
    ctx.set('Cache-Control', cacheControl);
    ctx.set('ETag', etag);
    ctx.type = type;
    if (ctx.get('If-None-Match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.length = info.size;
    ctx.body = createReadStream(path);
  });
  return router;
}

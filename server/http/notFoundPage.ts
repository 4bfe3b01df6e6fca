import type { Context, Next } from 'koa';
import { escapeHtml } from '../downloads/phonePage.ts';
import { webManifest } from './webAssets.ts';

/** A page for an address no route answers, so a mistyped or old link shows where to go instead of bare text. */
export function renderNotFoundPage(path: string, manifest: Record<string, string>): string {
  const stylesheet = manifest['phone.css'];
  const icon = manifest['favicon.svg'];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Page not found · Anatomy Gateway</title>
${stylesheet ? `<link rel="stylesheet" href="${escapeHtml(stylesheet)}">` : ''}
${icon ? `<link rel="icon" type="image/svg+xml" href="${escapeHtml(icon)}">` : ''}
</head>
<body class="phone">
<header class="phone-header"><span class="brand">Anatomy Gateway</span></header>
<main class="phone-main">
<h1>Page not found</h1>
<p class="notice">There is no page at ${escapeHtml(path.length > 200 ? `${path.slice(0, 200)}…` : path)}.</p>
<p><a class="button primary" href="/">Upload scans</a> <a class="button" href="/files">Files</a></p>
</main>
</body>
</html>
`;
}

/** Unmatched GET requests from a browser get the page; API and DICOMweb clients keep their JSON 404. */
export function notFoundPage(webDist?: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.status !== 404 || ctx.body != null) return;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return;
    if (ctx.path.startsWith('/api/') || ctx.path.startsWith('/dicomweb')) return;
    if (ctx.accepts('json', 'html') !== 'html') return;
    ctx.status = 404;
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = renderNotFoundPage(ctx.path, webManifest(webDist));
  };
}

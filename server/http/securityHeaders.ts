import type { Context, Next } from 'koa';
import helmet from 'koa-helmet';

/**
 * The one content security policy, for every response (pages, the phone page under /d/, API).
 * Everything from this server, no inline script. model-viewer needs blob: and data: images (textures,
 * the QR code), blob: workers for its decoders and WebAssembly compilation for Draco/Basis. Our own
 * elements use constructable stylesheets (not restricted by CSP), but model-viewer's shadow template
 * carries a <style> block and style attributes, hence 'unsafe-inline' for styles only; scripts stay 'self'.
 */
export const CSP_DIRECTIVES = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:', 'blob:'],
  'connect-src': ["'self'", 'data:', 'blob:'],
  'worker-src': ["'self'", 'blob:'],
  'font-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
} as const;

export const PAGE_CSP = Object.entries(CSP_DIRECTIVES)
  .map(([name, values]) => `${name} ${values.join(' ')}`)
  .join('; ');

/**
 * The policy of the OHIF viewer under /viewer/ (served by server/viewer/, set on its page and on the
 * scripts its workers start from): ours, plus the hashes of the page's own inline scripts (it sets its
 * base path inline), 'unsafe-eval' (its image decoder worker compiles its JPEG 2000 and JPEG-LS codecs'
 * glue code from strings; without it those images stay black) and data:/blob: fonts and media.
 * Scripts still come only from this server.
 */
export function viewerCsp(inlineScriptHashes: string[]): string {
  const directives: Record<string, readonly string[]> = {
    ...CSP_DIRECTIVES,
    'script-src': [...CSP_DIRECTIVES['script-src'], "'unsafe-eval'", ...inlineScriptHashes],
    'font-src': ["'self'", 'data:'],
    'media-src': ["'self'", 'blob:', 'data:'],
  };
  return Object.entries(directives)
    .map(([name, values]) => `${name} ${values.join(' ')}`)
    .join('; ');
}

/**
 * helmet's headers (nosniff, no-referrer, X-Frame-Options DENY, COOP/CORP same-origin, ...) with our
 * policy. Its default CSP is not used: it adds upgrade-insecure-requests, which would break every
 * subresource of a server run on plain HTTP inside a hospital LAN. HSTS only on TLS connections: over
 * plain HTTP it means nothing, and behind no TLS it must not pin a name to HTTPS.
 */
export function securityHeaders() {
  const common = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { ...CSP_DIRECTIVES } },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: false,
  });
  const hsts = helmet.strictTransportSecurity({ maxAge: 31_536_000, includeSubDomains: false });
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.secure) await hsts(ctx, async () => undefined);
    await common(ctx, next);
  };
}

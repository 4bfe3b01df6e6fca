import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Config } from '../config/config.ts';
import { lanIPv4 } from '../downloads/lanAddress.ts';

/** Until the database is open and the app is built, a request is told to come back shortly. */
function starting(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '2', 'Cache-Control': 'no-store' });
  res.end('anatomy-gateway is starting; try again in a moment.\n');
}

export type Listening = { ok: true; server: Server } | { ok: false; message: string };

/**
 * Binds HTTP(S) on PORT first of all, so a busy or forbidden port stops the start with one line before the
 * database is migrated or an account made. The app replaces the placeholder handler once it is built.
 */
export async function listenOrExplain(
  config: Pick<Config, 'port' | 'host'>,
  tls: { cert: Buffer | string; key: Buffer | string } | undefined,
): Promise<Listening> {
  const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, starting) : createHttpServer(starting);
  // Large STOW-RS bodies from slow links must not be cut off by Node's default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once('error', resolve);
    server.listen(config.port, config.host, () => {
      server.off('error', resolve);
      resolve(undefined);
    });
  });
  if (!err) return { ok: true, server };
  const where = `${config.port}${config.host ? ` on ${config.host}` : ''}`;
  if (err.code === 'EADDRINUSE')
    return {
      ok: false,
      message: `PORT: ${where} is already in use by another program; stop it or set PORT to a free port`,
    };
  if (err.code === 'EACCES')
    return { ok: false, message: `PORT: ${where} needs privileges this user lacks; use a port above 1023` };
  if (err.code === 'EADDRNOTAVAIL')
    return { ok: false, message: `HOST: ${config.host} is not an address of this machine` };
  return { ok: false, message: `PORT: ${where} cannot be used: ${err.message}` };
}

/** The line that tells a person where to open the pages: PUBLIC_URL, else this machine's LAN address. */
export function openPageLine(config: Pick<Config, 'publicUrl' | 'host' | 'tlsCert'>, port: number): string {
  const protocol = config.tlsCert ? 'https' : 'http';
  if (config.publicUrl) return `open ${config.publicUrl.replace(/\/+$/, '')}/ in a browser`;
  const loopbackOnly = config.host === '127.0.0.1' || config.host === 'localhost' || config.host === '::1';
  const host = loopbackOnly
    ? 'localhost'
    : config.host && config.host !== '0.0.0.0' && config.host !== '::'
      ? config.host
      : (lanIPv4() ?? 'localhost');
  return `open ${protocol}://${host}:${port}/ in a browser`;
}

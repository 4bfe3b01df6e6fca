import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';

/**
 * Guards of the listening socket against clients that hold connections without finishing requests: a cap on open
 * connections per client address, and a deadline for the body of every request but the streamed ones (uploads,
 * STOW-RS), which have an idle timeout of their own (ingest/requestBody.ts). Node's `requestTimeout` is one total
 * limit for every request, which a study sent over a slow link would hit; headers have `headersTimeout`.
 */
export type GuardSettings = Pick<Config, 'httpBodyTimeoutSeconds' | 'httpMaxConnectionsPerAddress'>;

/** Request bodies that may stream for hours: the upload form and STOW-RS. */
export function isStreamedBody(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'POST' || url === undefined) return false;
  const path = url.split('?')[0];
  return path === '/api/uploads' || path === '/dicomweb/studies' || path.startsWith('/dicomweb/studies/');
}

export function guardHttpServer(server: Server, settings: GuardSettings, logger: Logger): void {
  // Headers must arrive within a minute (slow-header clients); bodies are guarded below.
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;
  const open = new Map<string, number>();
  let refusedSince = 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const n = (open.get(address) ?? 0) + 1;
    if (n > settings.httpMaxConnectionsPerAddress) {
      socket.destroy();
      // One warning per burst, not one per refused connection.
      if (refusedSince++ === 0) {
        logger.warn(
          { remoteAddress: address, limit: settings.httpMaxConnectionsPerAddress },
          'too many connections from one address; new ones are closed (HTTP_MAX_CONNECTIONS_PER_ADDRESS)',
        );
        setTimeout(() => (refusedSince = 0), 60_000).unref();
      }
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  const bodyMs = settings.httpBodyTimeoutSeconds * 1000;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.complete) return;
    // Answered before its body was read (401, 415, 400): the rest is only drained, and gets the short deadline.
    res.once('finish', () => {
      if (req.complete) return;
      setTimeout(() => {
        if (!req.complete) req.socket.destroy();
      }, bodyMs).unref();
    });
    if (isStreamedBody(req.method, req.url)) return;
    const timer = setTimeout(() => {
      if (req.complete) return;
      if (!res.headersSent) {
        const body = JSON.stringify({
          error: `the request body did not arrive within ${settings.httpBodyTimeoutSeconds} s (HTTP_BODY_TIMEOUT_SECONDS)`,
        });
        res.writeHead(408, { 'Content-Type': 'application/json', Connection: 'close' });
        res.end(body);
      }
      // The rest of the body is never read: the connection goes.
      res.once('finish', () => req.socket.destroy());
      setTimeout(() => req.socket.destroy(), 1000).unref();
    }, bodyMs);
    timer.unref();
    const clear = (): void => clearTimeout(timer);
    req.once('end', clear);
    res.once('close', clear);
  });
}

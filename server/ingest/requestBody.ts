import type { IncomingMessage } from 'node:http';
import { httpError } from '../errors.ts';

/**
 * The chunks of a streamed request body (uploads, STOW-RS), cut off when the client sends nothing for `idleMs`
 * while we are waiting for it. Large studies over slow links may take hours, so there is no total deadline; the
 * clock only runs while the body is wanted, so time the server spends storing (back-pressure) never counts.
 * On the cut-off the request is destroyed and the iteration throws a 408 HttpError.
 */
export async function* readBodyWithIdleTimeout(req: IncomingMessage, idleMs: number): AsyncGenerator<Buffer> {
  const chunks = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<'idle'>((resolve) => {
      if (idleMs > 0) timer = setTimeout(() => resolve('idle'), idleMs);
    });
    let next: IteratorResult<Buffer> | 'idle';
    try {
      next = await Promise.race([chunks.next(), idle]);
    } finally {
      clearTimeout(timer);
    }
    if (next === 'idle') {
      const err = httpError(
        408,
        `no data received for ${Math.round(idleMs / 1000)} s (HTTP_IDLE_TIMEOUT_SECONDS); send the rest again`,
      );
      req.destroy(err);
      // Lets the iterator settle on the destroyed stream; its rejection is not ours to report.
      void chunks.return?.(undefined).catch(() => undefined);
      throw err;
    }
    if (next.done) return;
    yield next.value;
  }
}

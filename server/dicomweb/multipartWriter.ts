import { randomUUID } from 'node:crypto';

/** Writes `multipart/related` bodies (RFC 2387) part by part, for streamed WADO-RS responses. */

export interface Part {
  contentType: string;
  /** Set when known (stored files, single frames); a streamed conversion goes without. */
  length?: number;
  /** Content-Location of the part (the resource it is), as PS3.18 §8.6.1.3 allows. */
  location?: string;
  body: Buffer | AsyncIterable<Buffer>;
}

export function newBoundary(): string {
  return `anatomy-gateway-${randomUUID()}`;
}

export async function* multipartBody(
  parts: AsyncIterable<Part> | Iterable<Part>,
  boundary: string,
): AsyncGenerator<Buffer> {
  for await (const part of parts) {
    let head = `--${boundary}\r\nContent-Type: ${part.contentType}\r\n`;
    if (part.length !== undefined) head += `Content-Length: ${part.length}\r\n`;
    if (part.location) head += `Content-Location: ${part.location}\r\n`;
    yield Buffer.from(`${head}\r\n`, 'latin1');
    if (Buffer.isBuffer(part.body)) yield part.body;
    else for await (const chunk of part.body) yield chunk;
    yield Buffer.from('\r\n', 'latin1');
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { createApp } from '../../server/http/app.ts';
import type { AppContext } from '../../server/app/context.ts';

/** A multipart/related body as a STOW-RS client sends it. */
export function multipartRelated(
  parts: Buffer[],
  boundary: string,
  opts: { preamble?: string; epilogue?: string; partType?: string; close?: boolean } = {},
): Buffer {
  const chunks: Buffer[] = [];
  if (opts.preamble !== undefined) chunks.push(Buffer.from(`${opts.preamble}\r\n`));
  for (const p of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Type: ${opts.partType ?? 'application/dicom'}\r\nContent-Length: ${p.length}\r\n\r\n`,
      ),
    );
    chunks.push(p);
    chunks.push(Buffer.from('\r\n'));
  }
  if (opts.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  if (opts.epilogue !== undefined) chunks.push(Buffer.from(opts.epilogue));
  return Buffer.concat(chunks);
}

/** The app on a loopback port; closed when the test ends. */
export async function startTestServer(deps: AppContext, t: TestContext): Promise<{ url: string; server: Server }> {
  const server = createServer(createApp(deps).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

/** Value of a DICOM JSON attribute. */
export function dj(obj: unknown, tag: string): unknown[] | undefined {
  const el = (obj as Record<string, { Value?: unknown[] }> | undefined)?.[tag];
  return el?.Value;
}

/** A Buffer as a fetch body (fetch's types want an ArrayBuffer-backed view). */
export function fetchBody(buf: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buf);
}

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { MultipartRelatedTokenizer } from '../../server/dicomweb/multipartRelated.ts';
import { fetchBody, multipartRelated } from './dicomweb.ts';

/** The parts of a multipart/related response: each part's headers and bytes. */
export async function readMultipart(res: Response): Promise<Array<{ contentType: string; body: Buffer }>> {
  const ctype = res.headers.get('content-type') ?? '';
  const boundary = /boundary=("?)([^";]+)\1/.exec(ctype)?.[2];
  assert.ok(boundary, `multipart response has a boundary (${ctype})`);
  const tok = new MultipartRelatedTokenizer(boundary);
  const events = [...tok.write(Buffer.from(await res.arrayBuffer())), ...tok.end()];
  const parts: Array<{ contentType: string; body: Buffer }> = [];
  let chunks: Buffer[] = [];
  const close = (): void => {
    if (parts.length > 0) parts[parts.length - 1].body = Buffer.concat(chunks);
  };
  for (const e of events) {
    if (e.type === 'part') {
      close();
      chunks = [];
      parts.push({ contentType: e.headers['content-type'] ?? '', body: Buffer.alloc(0) });
    } else if (e.type === 'data') chunks.push(e.chunk);
    else {
      assert.ok(e.complete, 'the multipart body is complete');
      close();
    }
  }
  return parts;
}

/** STOWs every file of a folder; returns the files' bytes by name. `status` is the answer expected. */
export async function stowFolder(
  url: string,
  dir: string,
  headers: Record<string, string> = {},
  status = 200,
): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).sort();
  const files = new Map<string, Buffer>();
  for (const n of names) files.set(n, await readFile(join(dir, n)));
  const res = await fetch(`${url}/dicomweb/studies`, {
    method: 'POST',
    body: fetchBody(multipartRelated([...files.values()], 'stowfolder')),
    headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=stowfolder', ...headers },
  });
  assert.equal(res.status, status, `STOW of ${dir}: ${await res.clone().text()}`);
  return files;
}

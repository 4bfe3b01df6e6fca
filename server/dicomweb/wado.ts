import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { Database } from '../db/database.ts';
import { findInstanceFiles, type InstanceFile } from '../dicomIndex/instanceFiles.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';

/**
 * WADO-RS retrieve (PS3.18 §10.4) of stored instances as `multipart/related; type="application/dicom"`,
 * streamed file by file. Instances are sent in their stored transfer syntax (no transcoding): a request
 * for another specific syntax gets 406 rather than silently different bytes.
 */

export interface RetrieveDeps {
  db: Database;
  logger: Logger;
  storage: Storage;
}

function acceptedTransferSyntax(accept: string): string | undefined {
  const m = /transfer-syntax\s*=\s*"?([0-9.*]+)"?/i.exec(accept);
  return m?.[1];
}

function wantsMultipart(accept: string): boolean {
  if (accept === '' || accept === '*/*') return true;
  return /multipart\/related/i.test(accept) || /\*\/\*/.test(accept);
}

export async function handleRetrieve(
  deps: RetrieveDeps,
  ctx: Context,
  study: string,
  series?: string,
  instance?: string,
): Promise<void> {
  for (const u of [study, series, instance]) {
    if (u !== undefined && !isUsableUid(u)) throw httpError(400, 'a UID in the URL is not valid');
  }
  const rows = await findInstanceFiles(deps.db, { study, series, instance });
  if (rows.length === 0)
    throw httpError(404, instance ? 'no such instance' : series ? 'no such series' : 'no such study');

  const accept = ctx.get('Accept').trim();
  const wantTs = acceptedTransferSyntax(accept);
  if (wantTs && wantTs !== '*' && rows.some((r) => r.transferSyntaxUid !== wantTs)) {
    throw httpError(
      406,
      `instances are stored in ${[...new Set(rows.map((r) => r.transferSyntaxUid))].join(', ')} and are not transcoded; ask for transfer-syntax=*`,
    );
  }
  const files = rows;
  for (const f of files) {
    if (!(await deps.storage.stat(f.path))) {
      deps.logger.error({ path: f.path }, 'indexed instance file is missing');
      throw httpError(500, 'a stored instance file is missing');
    }
  }
  ctx.set('Cache-Control', 'no-store');
  if (!wantsMultipart(accept) && /application\/dicom/i.test(accept) && files.length === 1) {
    ctx.type = 'application/dicom';
    ctx.length = files[0].sizeBytes;
    ctx.body = deps.storage.createReadStream(files[0].path);
    return;
  }
  if (!wantsMultipart(accept))
    throw httpError(406, 'instances are served as multipart/related; type="application/dicom"');
  const boundary = `anatomy-gateway-${randomUUID()}`;
  ctx.status = 200;
  ctx.set('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
  ctx.body = Readable.from(multipartBody(deps.storage, files, boundary));
}

async function* multipartBody(storage: Storage, files: InstanceFile[], boundary: string): AsyncGenerator<Buffer> {
  for (const f of files) {
    yield Buffer.from(
      `--${boundary}\r\nContent-Type: application/dicom; transfer-syntax=${f.transferSyntaxUid}\r\nContent-Length: ${f.sizeBytes}\r\n\r\n`,
      'latin1',
    );
    for await (const chunk of storage.createReadStream(f.path, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    yield Buffer.from('\r\n', 'latin1');
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

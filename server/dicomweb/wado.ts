import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { AppDeps } from '../http/deps.ts';
import { httpError } from '../http/errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { absoluteDataPath } from '../ingest/storeInstance.ts';

/**
 * WADO-RS retrieve (PS3.18 §10.4) of stored instances as `multipart/related; type="application/dicom"`,
 * streamed file by file. Instances are sent in their stored transfer syntax (no transcoding): a request
 * for another specific syntax gets 406 rather than silently different bytes.
 */

interface InstanceFile {
  path: string;
  transfer_syntax_uid: string;
  size_bytes: string;
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
  deps: AppDeps,
  ctx: Context,
  study: string,
  series?: string,
  instance?: string,
): Promise<void> {
  for (const u of [study, series, instance]) {
    if (u !== undefined && !isUsableUid(u)) throw httpError(400, 'a UID in the URL is not valid');
  }
  const params: string[] = [study];
  let where = 'study_uid = $1';
  if (series !== undefined) {
    params.push(series);
    where += ` AND series_uid = $${params.length}`;
  }
  if (instance !== undefined) {
    params.push(instance);
    where += ` AND sop_instance_uid = $${params.length}`;
  }
  const rows = (
    await deps.db.query<InstanceFile>(
      `SELECT path, transfer_syntax_uid, size_bytes FROM dicom_instances WHERE ${where} ORDER BY series_uid, instance_number NULLS LAST, sop_instance_uid`,
      params,
    )
  ).rows;
  if (rows.length === 0)
    throw httpError(404, instance ? 'no such instance' : series ? 'no such series' : 'no such study');

  const accept = ctx.get('Accept').trim();
  const wantTs = acceptedTransferSyntax(accept);
  if (wantTs && wantTs !== '*' && rows.some((r) => r.transfer_syntax_uid !== wantTs)) {
    throw httpError(
      406,
      `instances are stored in ${[...new Set(rows.map((r) => r.transfer_syntax_uid))].join(', ')} and are not transcoded; ask for transfer-syntax=*`,
    );
  }
  const files = rows.map((r) => ({ ...r, abs: absoluteDataPath(deps.config.dataDir, r.path) }));
  for (const f of files) {
    try {
      await stat(f.abs);
    } catch {
      deps.logger.error({ path: f.path }, 'indexed instance file is missing');
      throw httpError(500, 'a stored instance file is missing');
    }
  }
  ctx.set('Cache-Control', 'no-store');
  if (!wantsMultipart(accept) && /application\/dicom/i.test(accept) && files.length === 1) {
    ctx.type = 'application/dicom';
    ctx.length = Number(files[0].size_bytes);
    ctx.body = createReadStream(files[0].abs);
    return;
  }
  if (!wantsMultipart(accept))
    throw httpError(406, 'instances are served as multipart/related; type="application/dicom"');
  const boundary = `anatomy-gateway-${randomUUID()}`;
  ctx.status = 200;
  ctx.set('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
  ctx.body = Readable.from(multipartBody(files, boundary));
}

async function* multipartBody(
  files: Array<{ abs: string; transfer_syntax_uid: string; size_bytes: string }>,
  boundary: string,
): AsyncGenerator<Buffer> {
  for (const f of files) {
    yield Buffer.from(
      `--${boundary}\r\nContent-Type: application/dicom; transfer-syntax=${f.transfer_syntax_uid}\r\nContent-Length: ${f.size_bytes}\r\n\r\n`,
      'latin1',
    );
    for await (const chunk of createReadStream(f.abs, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    yield Buffer.from('\r\n', 'latin1');
  }
  yield Buffer.from(`--${boundary}--\r\n`, 'latin1');
}

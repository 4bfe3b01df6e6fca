import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { DicomwebDeps } from './deps.ts';
import { httpError } from '../errors.ts';
import { noteRead } from './readAudit.ts';
import { SUPPORTED_TRANSFER_SYNTAXES } from '../dicom/transferSyntaxes.ts';
import { chooseInstanceSyntax, EXPLICIT_VR_LE } from './accept.ts';
import { findInstances, type InstanceKey, type ServedInstance } from './instances.ts';
import { multipartBody, newBoundary, type Part } from './multipartWriter.ts';
import { explicitLittleEndian } from './transcode.ts';
import { instanceUrl } from './urls.ts';

/**
 * WADO-RS retrieve of instances (PS3.18 §10.4) as `multipart/related; type="application/dicom"` (or one
 * bare `application/dicom`), streamed instance by instance: in Explicit VR Little Endian unless the
 * request names the stored syntax or `transfer-syntax=*` (as stored).
 */

export async function ensureFilesPresent(deps: DicomwebDeps, files: ServedInstance[]): Promise<void> {
  for (const f of files) {
    if (!(await stat(f.path).catch(() => undefined))) {
      deps.logger.error({ sopInstanceUid: f.sopUid }, 'indexed instance file is missing');
      throw httpError(500, 'a stored instance file is missing');
    }
  }
}

/** What a retrieve of instances or metadata read, for its audit row (readAudit.ts): UIDs and counts only. */
export function noteInstancesRead(ctx: Context, key: InstanceKey, files: ServedInstance[]): void {
  noteRead(ctx, {
    studies: [key.study],
    series: [...new Set(files.map((f) => f.seriesUid))],
    instances: files.length,
  });
}

export async function handleRetrieve(deps: DicomwebDeps, ctx: Context, key: InstanceKey, base: string): Promise<void> {
  const files = await findInstances(deps, key);
  const accept = ctx.get('Accept').trim();
  const stored = [...new Set(files.map((f) => f.transferSyntaxUid))];
  const choice = chooseInstanceSyntax(accept, stored, key.instance !== undefined);
  if (choice.syntax === EXPLICIT_VR_LE) {
    const cannot = stored.filter((s) => s !== EXPLICIT_VR_LE && !SUPPORTED_TRANSFER_SYNTAXES.has(s));
    if (cannot.length > 0) {
      throw httpError(
        406,
        `instances stored in ${cannot.join(', ')} cannot be converted here; ask for transfer-syntax=*`,
        {
          code: 'not-acceptable',
        },
      );
    }
  }
  await ensureFilesPresent(deps, files);
  noteInstancesRead(ctx, key, files);
  ctx.set('Cache-Control', 'no-store');
  const converted = (f: ServedInstance): boolean =>
    choice.syntax === EXPLICIT_VR_LE && f.transferSyntaxUid !== EXPLICIT_VR_LE;
  const syntaxOf = (f: ServedInstance): string =>
    choice.syntax === EXPLICIT_VR_LE ? EXPLICIT_VR_LE : f.transferSyntaxUid;
  if (!choice.multipart) {
    const f = files[0];
    ctx.type = 'application/dicom';
    if (!converted(f)) {
      ctx.length = f.size;
      ctx.body = createReadStream(f.path);
    } else ctx.body = Readable.from(explicitLittleEndian(f));
    return;
  }
  const boundary = newBoundary();
  const parts = function* (): Generator<Part> {
    for (const f of files) {
      yield {
        contentType: `application/dicom; transfer-syntax=${syntaxOf(f)}`,
        location: instanceUrl(base, f.studyUid, f.seriesUid, f.sopUid),
        ...(converted(f)
          ? { body: explicitLittleEndian(f) }
          : { length: f.size, body: createReadStream(f.path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer> }),
      };
    }
  };
  ctx.status = 200;
  ctx.set('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
  ctx.body = Readable.from(multipartBody(parts(), boundary));
}

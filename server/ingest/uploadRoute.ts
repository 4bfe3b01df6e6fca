import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { Router } from '@koa/router';
import busboy from 'busboy';
import type { Context } from 'koa';
import { HttpError, httpError } from '../errors.ts';
import { InstanceRejectedError } from '../dicom/failure.ts';
import { INGEST_LIMITS } from './limits.ts';
import { checkFreeDisk } from './admission.ts';
import { readBodyWithIdleTimeout } from './requestBody.ts';
import { Semaphore } from './semaphore.ts';
import type { UploadDeps } from './deps.ts';
import { displayName, ingestFile, type IngestReport } from './ingestFile.ts';
import { auditRequest } from '../auth/auditRequest.ts';
import { completeUpload, parseCompleteBody } from './uploadComplete.ts';

/**
 * POST /api/uploads: multipart/form-data from the web page, field `files` (many).
 * busboy parses the form: it streams each file with backpressure and hard limits and leaves naming and
 * storage to us (formidable, via koa-body, picks its own temp names and buffers fields); its parser has
 * no open advisories, unlike dicer.
 */
export const UPLOAD_FIELD = 'files';

/**
 * Writes one form file to `temp`. When writing fails (disk full) the rest of the file is still read and
 * dropped: busboy waits for every file stream to be consumed, so a destroyed one would stall the whole
 * request instead of answering it. Resolves with the error, if any.
 */
function receiveFile(stream: Readable, temp: string): Promise<Error | undefined> {
  return new Promise((resolve) => {
    // Torn down while the temp name was being made: its events have already fired.
    if (stream.destroyed) {
      resolve(stream.errored ?? new Error('the form ended in the middle of this file'));
      return;
    }
    const out = createWriteStream(temp);
    let failure: Error | undefined;
    let ended = false;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      resolve(failure);
    };
    out.on('error', (e) => {
      failure ??= e;
      stream.unpipe(out);
      stream.resume();
      if (ended) settle();
    });
    out.on('finish', settle);
    stream.on('error', (e) => {
      failure ??= e;
      out.destroy();
      settle();
    });
    stream.on('end', () => {
      ended = true;
      if (failure) settle();
    });
    // busboy destroys a file stream without an error when the form is cut off or torn down.
    stream.on('close', () => {
      if (ended) return;
      failure ??= new Error('the form ended in the middle of this file');
      out.destroy();
      settle();
    });
    stream.pipe(out);
  });
}

export async function receiveUploads(deps: UploadDeps, ctx: Context): Promise<IngestReport> {
  const type = ctx.get('Content-Type');
  if (!/^multipart\/form-data/i.test(type))
    throw httpError(
      415,
      `Content-Type must be multipart/form-data with a "${UPLOAD_FIELD}" field, got "${type.slice(0, 100) || 'none'}"`,
    );
  try {
    await checkFreeDisk(deps);
  } catch (e) {
    if (e instanceof InstanceRejectedError) throw httpError(507, e.message, { expose: true });
    throw e;
  }
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: ctx.req.headers,
      // Folder drops send relative paths; they are only echoed back in the report, never used as paths.
      preservePath: true,
      limits: {
        files: INGEST_LIMITS.maxUploadFiles,
        fileSize: INGEST_LIMITS.maxZipTotalBytes,
        fields: 100,
        fieldSize: 64 * 1024,
        parts: INGEST_LIMITS.maxUploadFiles + 100,
      },
    });
  } catch (e) {
    throw httpError(400, `malformed multipart/form-data request (${(e as Error).message})`);
  }
  const report: IngestReport = { accepted: [], rejected: [] };
  const origin = { via: 'upload' as const, remoteAddress: ctx.request.ip };
  // A file waits for a slot before it gets a temp file; the request is read no further while `maxOpen` files
  // are received but not yet stored, so temp files, memory and wake-ups stay bounded whatever the file count.
  const slots = new Semaphore(INGEST_LIMITS.storeConcurrency);
  const maxOpen = 2 * INGEST_LIMITS.storeConcurrency;
  let open = 0;
  // One waiter at a time: the gate below while the body is read, then the end of the request.
  let waiter: { limit: number; resolve: () => void } | undefined;
  const fileDone = (): void => {
    open -= 1;
    if (waiter && open < waiter.limit) {
      const { resolve } = waiter;
      waiter = undefined;
      resolve();
    }
  };
  const below = (limit: number): Promise<void> =>
    open < limit ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { limit, resolve }));
  let fileCount = 0;

  const receiveAndStore = async (stream: Readable, name: string, truncated: () => boolean): Promise<void> => {
    await slots.acquire();
    try {
      let temp: string | undefined;
      let failure: Error | undefined;
      try {
        temp = await deps.storage.staging.newFile();
        failure = await receiveFile(stream, temp);
      } catch (e) {
        failure = e as Error;
        stream.resume();
      }
      if (failure || temp === undefined) {
        const e = failure ?? new Error('no temp file');
        await deps.storage.staging.remove(temp);
        const code = (e as NodeJS.ErrnoException).code;
        const reason =
          code === 'ENOSPC' || code === 'EDQUOT'
            ? "the server's disk is full; nothing of this file was kept, please send it again later"
            : `upload interrupted (${(e as Error).message})`;
        report.rejected.push({ file: name, reason });
        return;
      }
      if (truncated()) {
        await deps.storage.staging.remove(temp);
        report.rejected.push({
          file: name,
          reason: `file is larger than the ${INGEST_LIMITS.maxZipTotalBytes} byte upload limit`,
        });
        return;
      }
      await ingestFile(deps, temp, name, origin, report);
    } finally {
      slots.release();
    }
  };

  bb.on('file', (field, stream, info) => {
    // A form cut off mid-file errors this stream, maybe before it is read; an error with no listener would
    // take the whole server down. The reader still sees it.
    stream.on('error', () => undefined);
    const name = displayName(info.filename);
    if (field !== UPLOAD_FIELD && field !== 'file') {
      stream.resume();
      report.rejected.push({
        file: name,
        reason: `unexpected form field "${displayName(field)}"; send files in "${UPLOAD_FIELD}"`,
      });
      return;
    }
    fileCount += 1;
    open += 1;
    let truncated = false;
    stream.on('limit', () => {
      truncated = true;
    });
    void receiveAndStore(stream, name, () => truncated).finally(fileDone);
  });
  bb.on('filesLimit', () =>
    report.rejected.push({
      file: '(more files)',
      reason: `more than ${INGEST_LIMITS.maxUploadFiles} files in one upload; the rest were not read`,
    }),
  );

  // Back-pressure: the next chunk of the request goes to the form parser only once fewer than maxOpen files wait.
  const gate = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      below(maxOpen).then(() => cb(null, chunk), cb);
    },
  });
  const idleMs = deps.config.httpIdleTimeoutSeconds * 1000;
  try {
    await pipeline(Readable.from(readBodyWithIdleTimeout(ctx.req, idleMs), { objectMode: false }), gate, bb);
  } catch (e) {
    await below(1);
    if (e instanceof HttpError) throw e;
    throw httpError(400, `the upload could not be read (${(e as Error).message})`);
  }
  await below(1);
  if (fileCount === 0 && report.rejected.length === 0)
    throw httpError(400, `no files in the form; send them in the "${UPLOAD_FIELD}" field`);
  return report;
}

export function uploadsRouter(deps: UploadDeps): Router {
  const router = new Router();
  router.post('/api/uploads', async (ctx) => {
    const report = await receiveUploads(deps, ctx);
    const series = new Set(report.accepted.flatMap((a) => (a.kind === 'dicom' ? [a.seriesInstanceUid] : [])));
    deps.logger.info(
      { accepted: report.accepted.length, rejected: report.rejected.length, series: series.size },
      'upload received',
    );
    await auditRequest(deps, ctx, {
      event: 'upload',
      outcome: report.accepted.length > 0 ? 'success' : 'failure',
      details: { accepted: report.accepted.length, rejected: report.rejected.length, series: [...series].slice(0, 50) },
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = report.accepted.length > 0 ? 200 : 422;
    ctx.body = report;
  });
  router.post('/api/uploads/complete', parseCompleteBody, async (ctx) => {
    const answer = await completeUpload(deps, ctx);
    const jobs = answer.series.filter((s) => s.jobId).length;
    deps.logger.info({ series: answer.series.length, jobs }, 'upload complete: series queued without a quiet period');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = answer;
  });
  return router;
}

import type { Context } from 'koa';
import { parse as parseContentType, type ContentType } from 'content-type';
import { httpError } from '../errors.ts';
import { FailureReason, InstanceRejectedError, type FailureReasonCode } from '../dicom/failure.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { checkFreeDisk } from '../ingest/admission.ts';
import { storeInstance, type StoredInstance } from '../ingest/storeInstance.ts';
import { PartFiles, type StreamedInstanceFile } from '../ingest/streamedFile.ts';
import { INGEST_LIMITS } from '../ingest/limits.ts';
import { Semaphore } from '../ingest/semaphore.ts';
import { readBodyWithIdleTimeout } from '../ingest/requestBody.ts';
import { MultipartRelatedTokenizer, MultipartSyntaxError, type MultipartEvent } from './multipartRelated.ts';
import { num, seq, sorted, str, uid, type DicomJson } from './dicomJson.ts';
import { dicomwebBaseUrl, instanceUrl, studyUrl } from './urls.ts';
import { auditRequest } from '../auth/auditRequest.ts';
import type { DicomwebDeps } from './deps.ts';

export interface StowFailure {
  reason: FailureReasonCode;
  message: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
}

export interface StowOutcome {
  stored: StoredInstance[];
  failed: StowFailure[];
  /** A request-level syntax problem found after some parts were read. */
  syntaxError?: string;
  /** Parts that failed with an unexpected error (logged once per request, with the first one's stack). */
  internalErrors: number;
  firstInternalError?: unknown;
}

type Body = { kind: 'multipart'; boundary: string } | { kind: 'single' };

/** PS3.18 §10.5.1: multipart/related with type application/dicom (quoted or not), or one bare application/dicom. */
function parseStowContentType(header: string | undefined): Body {
  if (!header)
    throw httpError(415, 'Content-Type is required: multipart/related; type="application/dicom"; boundary=...');
  let parsed: ContentType;
  try {
    parsed = parseContentType(header);
  } catch {
    throw httpError(415, `unreadable Content-Type "${header.slice(0, 200)}"`);
  }
  if (parsed.type === 'application/dicom') return { kind: 'single' };
  if (parsed.type !== 'multipart/related') {
    throw httpError(
      415,
      `Content-Type ${parsed.type} is not supported: send multipart/related; type="application/dicom"`,
    );
  }
  const type = parsed.parameters.type?.toLowerCase();
  if (type !== undefined && type !== 'application/dicom') {
    throw httpError(
      415,
      `multipart/related type "${type}" is not supported: only Part 10 instances (type="application/dicom") are accepted`,
    );
  }
  const boundary = parsed.parameters.boundary;
  if (!boundary) throw httpError(400, 'the multipart/related Content-Type has no boundary parameter');
  return { kind: 'multipart', boundary };
}

function partIsDicom(headers: Record<string, string>): string | undefined {
  const ct = headers['content-type'];
  if (ct === undefined) return undefined; // the request's type parameter applies
  try {
    const t = parseContentType(ct).type;
    return t === 'application/dicom' ? undefined : t;
  } catch {
    return ct.slice(0, 100);
  }
}

function failureOf(e: unknown): StowFailure {
  if (e instanceof InstanceRejectedError) {
    return { reason: e.reason, message: e.message, sopClassUid: e.sopClassUid, sopInstanceUid: e.sopInstanceUid };
  }
  return { reason: FailureReason.ProcessingFailure, message: 'internal error while storing the instance' };
}

/**
 * The sender is answered once for the whole request, so a part's index row may wait this long for the rows of
 * the next parts to share one commit (ingest/indexCommits.ts).
 */
const STOW_INDEX_LINGER_MS = 25;

/**
 * Receives a STOW-RS body part by part: each part streams into its own temp file (StreamedInstanceFile:
 * socket buffers written in one writev, header parsed from memory) and is handed to storeInstance while
 * the next parts are being received (up to storeConcurrency at a time; their fsyncs, directory fsyncs and
 * index rows are batched), so memory stays flat whatever the request size and fsync latency overlaps with
 * network transfer.
 */
export async function receiveStow(
  deps: DicomwebDeps,
  ctx: Context,
  expectedStudyInstanceUid: string | undefined,
): Promise<StowOutcome> {
  const body = parseStowContentType(ctx.get('Content-Type') || undefined);
  // Below MIN_FREE_DISK_MB every part is refused with 0xA700 (PS3.18: a failed item per instance, then 507);
  // the parts are read and dropped, never written.
  let diskFull: string | undefined;
  await checkFreeDisk(deps).catch((e: unknown) => {
    if (!(e instanceof InstanceRejectedError)) throw e;
    diskFull = e.message;
  });
  const outcome: StowOutcome = { stored: [], failed: [], internalErrors: 0 };
  const slots = new Semaphore(INGEST_LIMITS.storeConcurrency);
  const origin = { via: 'stow' as const, remoteAddress: ctx.request.ip };
  const onInternalError = (e: unknown): void => {
    outcome.internalErrors += 1;
    outcome.firstInternalError ??= e;
  };

  const store = async (part: StreamedInstanceFile): Promise<void> => {
    try {
      const source = { file: part.file, prepare: part.prepare.bind(part) };
      outcome.stored.push(
        await storeInstance(deps, source, origin, {
          expectedStudyInstanceUid,
          indexLingerMs: STOW_INDEX_LINGER_MS,
          onInternalError,
        }),
      );
    } catch (e) {
      outcome.failed.push(failureOf(e));
    } finally {
      slots.release();
    }
  };
  // Waits for a slot here, so the request is read no further while storeConcurrency parts are being stored.
  const launch = async (part: StreamedInstanceFile): Promise<void> => {
    await slots.acquire();
    void store(part);
  };

  const files = new PartFiles(deps.storage.staging);
  let current: StreamedInstanceFile | undefined;
  let discarding: StowFailure | undefined; // the current part is being skipped for this reason
  let total = 0;
  const closeCurrent = async (keep: boolean): Promise<StreamedInstanceFile | undefined> => {
    if (!current) return undefined;
    const part = current;
    current = undefined;
    if (keep) return part;
    await part.discard();
    return undefined;
  };

  const onEvent = async (ev: MultipartEvent, partIndex: number): Promise<void> => {
    switch (ev.type) {
      case 'part': {
        discarding = undefined;
        if (partIndex > INGEST_LIMITS.maxStowParts) {
          discarding = {
            reason: FailureReason.OutOfResources,
            message: `more than ${INGEST_LIMITS.maxStowParts} instances in one request; send the rest in another request`,
          };
          return;
        }
        if (diskFull !== undefined) {
          discarding = { reason: FailureReason.OutOfResources, message: diskFull };
          return;
        }
        const wrongType = partIsDicom(ev.headers);
        if (wrongType !== undefined) {
          discarding = {
            reason: FailureReason.CannotUnderstand,
            message: `part ${partIndex} has Content-Type ${wrongType}; only application/dicom parts are accepted`,
          };
          return;
        }
        current = await files.next();
        return;
      }
      case 'data': {
        if (!current) return;
        if (current.bytes + ev.chunk.length > INGEST_LIMITS.maxInstanceBytes) {
          await closeCurrent(false);
          discarding = {
            reason: FailureReason.OutOfResources,
            message: `part ${partIndex} exceeds the ${INGEST_LIMITS.maxInstanceBytes} byte limit for one instance`,
          };
          return;
        }
        try {
          await current.write(ev.chunk);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
          await closeCurrent(false);
          discarding = {
            reason: FailureReason.OutOfResources,
            message: `out of disk space while receiving part ${partIndex}`,
          };
        }
        return;
      }
      case 'end': {
        if (discarding) {
          outcome.failed.push(discarding);
          discarding = undefined;
          return;
        }
        if (!ev.complete) {
          await closeCurrent(false);
          outcome.failed.push({
            reason: FailureReason.CannotUnderstand,
            message: `part ${partIndex} is incomplete: the request body ended before the closing boundary`,
          });
          return;
        }
        const part = await closeCurrent(true);
        if (part && part.bytes === 0) {
          await part.discard();
          outcome.failed.push({
            reason: FailureReason.CannotUnderstand,
            message: `part ${partIndex} is empty (0 bytes); each part must be one DICOM Part 10 instance`,
          });
          return;
        }
        if (part) await launch(part);
        return;
      }
    }
  };

  const requestChunks = readBodyWithIdleTimeout(ctx.req, deps.config.httpIdleTimeoutSeconds * 1000);
  try {
    if (body.kind === 'single') {
      await onEvent({ type: 'part', headers: {} }, 1);
      for await (const chunk of requestChunks) {
        total += chunk.length;
        await onEvent({ type: 'data', chunk }, 1);
      }
      await onEvent({ type: 'end', complete: true }, 1);
    } else {
      let tokenizer: MultipartRelatedTokenizer;
      try {
        tokenizer = new MultipartRelatedTokenizer(body.boundary);
      } catch (e) {
        throw httpError(400, (e as Error).message);
      }
      try {
        for await (const chunk of requestChunks) {
          total += chunk.length;
          if (total > INGEST_LIMITS.maxRequestBytes) {
            throw new MultipartSyntaxError(
              `the request exceeds ${INGEST_LIMITS.maxRequestBytes} bytes; split it into several requests`,
            );
          }
          for (const ev of tokenizer.write(chunk)) await onEvent(ev, tokenizer.partCount);
        }
        for (const ev of tokenizer.end()) await onEvent(ev, tokenizer.partCount);
      } catch (e) {
        if (!(e instanceof MultipartSyntaxError)) throw e;
        await closeCurrent(false);
        outcome.syntaxError = e.message;
      }
    }
  } finally {
    await closeCurrent(false);
    await files.close();
    await slots.idle();
  }
  return outcome;
}

/** Private creator and element carrying the human-readable failure text next to the numeric reason. */
export const PRIVATE_CREATOR = 'ANATOMY-GATEWAY 1';
export const FAILURE_TEXT_TAG = '00091001';

function reasonText(message: string): DicomJson {
  return { '00090010': str('LO', PRIVATE_CREATOR), [FAILURE_TEXT_TAG]: { vr: 'LT', Value: [message.slice(0, 10240)] } };
}

/** PS3.18 §10.5.3 Store Instances Response Module and its HTTP status. */
export function stowResponse(
  outcome: StowOutcome,
  baseUrl: string,
  requestStudy: string | undefined,
): { status: number; body: DicomJson; warning?: string } {
  const { stored, failed } = outcome;
  const failedItems: DicomJson[] = failed.map((f) =>
    sorted({
      '00081150': uid(f.sopClassUid),
      '00081155': uid(f.sopInstanceUid),
      '00081197': num('US', f.reason),
      ...reasonText(f.message),
    }),
  );
  const refItems: DicomJson[] = stored.map((s) =>
    sorted({
      '00081150': uid(s.sopClassUid),
      '00081155': uid(s.sopInstanceUid),
      '00081190': str('UR', instanceUrl(baseUrl, s.studyInstanceUid, s.seriesInstanceUid, s.sopInstanceUid)),
    }),
  );
  const study = requestStudy ?? stored[0]?.studyInstanceUid;
  const body: DicomJson = { '00081190': str('UR', study ? studyUrl(baseUrl, study) : undefined) };
  if (failedItems.length > 0 || outcome.syntaxError) {
    if (outcome.syntaxError) {
      failedItems.push(
        sorted({
          '00081150': uid(undefined),
          '00081155': uid(undefined),
          '00081197': num('US', FailureReason.CannotUnderstand),
          ...reasonText(outcome.syntaxError),
        }),
      );
    }
    body['00081198'] = seq(failedItems);
  }
  if (refItems.length > 0) body['00081199'] = seq(refItems);

  const warning = duplicateWarning(stored);
  let status: number;
  if (stored.length > 0) status = failedItems.length > 0 || warning ? 202 : 200;
  else if (outcome.syntaxError && failed.length === 0) status = 400;
  else if (failed.length === 0) status = 400;
  else if (failed.every((f) => f.reason === FailureReason.OutOfResources)) status = 507;
  else if (failed.every((f) => f.reason === FailureReason.CannotUnderstand)) status = 400;
  else status = 409; // PS3.18: conflict, or "unable to store any Instances for a mixture of reasons"
  return { status, body: sorted(body), ...(warning ? { warning } : {}) };
}

/**
 * Instances whose SOP Instance UID was already stored: by default the first copy stays (OVERWRITE_INSTANCES), and
 * the sender hears it in a Warning header (PS3.18 §8.3.5.1), the response being 202 (stored with warnings). The
 * standard's Warning Reason codes (coercion, discarded elements, SOP class mismatch) name none of these cases.
 */
function duplicateWarning(stored: StoredInstance[]): string | undefined {
  const identical = stored.filter((s) => s.alreadyStored === 'identical').length;
  const different = stored.filter((s) => s.alreadyStored === 'different').length;
  const replaced = stored.filter((s) => s.replaced).length;
  const parts = [
    identical ? `${identical} instance(s) already stored with the same content` : '',
    different ? `${different} instance(s) already stored with other content: the first copy was kept` : '',
    replaced ? `${replaced} instance(s) already stored were replaced by this copy` : '',
  ].filter(Boolean);
  return parts.length > 0 ? `299 anatomy-gateway "${parts.join('; ')}"` : undefined;
}

export async function handleStow(deps: DicomwebDeps, ctx: Context, study: string | undefined): Promise<void> {
  if (study !== undefined && !isUsableUid(study))
    throw httpError(400, 'the Study Instance UID in the URL is not a valid UID');
  const outcome = await receiveStow(deps, ctx, study);
  const counts = { stored: outcome.stored.length, failed: outcome.failed.length + (outcome.syntaxError ? 1 : 0) };
  deps.logger.info(
    { ...counts, remoteAddress: ctx.request.ip, reasons: [...new Set(outcome.failed.map((f) => f.reason))] },
    'STOW-RS request',
  );
  if (outcome.internalErrors > 0) {
    deps.logger.error(
      { err: outcome.firstInternalError, instances: outcome.internalErrors },
      'STOW-RS request: instances failed with an internal error (the first one shown)',
    );
  }
  await auditRequest(deps, ctx, {
    event: 'stow',
    outcome: counts.stored > 0 ? 'success' : 'failure',
    target: study ?? null,
    details: counts,
  });
  if (outcome.stored.length === 0 && outcome.failed.length === 0)
    throw httpError(400, outcome.syntaxError ?? 'the request holds no instances');
  const { status, body, warning } = stowResponse(outcome, dicomwebBaseUrl(deps.config, ctx), study);
  ctx.status = status;
  if (warning) ctx.set('Warning', warning);
  ctx.type = 'application/dicom+json';
  ctx.body = JSON.stringify(body);
}

import { randomBytes } from 'node:crypto';
import { parse as parseContentType } from 'content-type';
import { MultipartRelatedTokenizer, type MultipartEvent } from '../dicomweb/multipartRelated.ts';
import type { PacsNode } from '../config/pacsNodes.ts';

/**
 * DICOMweb client for one PACS node: QIDO-RS search, WADO-RS retrieve (multipart/related streamed
 * part by part, never held whole in memory) and STOW-RS store. Every failure is a PacsError saying
 * whether trying again later can help: an unreachable node or a 5xx can; refused credentials, a
 * missing study or a malformed answer cannot.
 */

export class PacsError extends Error {
  readonly retryable: boolean;
  /** HTTP status from the node, when it answered. */
  readonly status?: number;
  constructor(message: string, retryable: boolean, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PacsError';
    this.retryable = retryable;
    this.status = status;
  }
}

export type DicomJsonObject = Record<string, { vr?: string; Value?: unknown[] }>;

const DEFAULT_TIMEOUT_MS = 30_000;

function describeNetworkError(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name not found';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'connection timed out';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code && /CERT|SSL|TLS/i.test(code)) return `TLS error (${code})`;
  if ((e as Error).name === 'TimeoutError') return 'no answer in time';
  return code ?? cause?.message ?? (e as Error).message;
}

export class DicomwebClient {
  readonly node: PacsNode;
  readonly #base: string;
  readonly #timeoutMs: number;

  constructor(node: PacsNode, options: { timeoutMs?: number } = {}) {
    if (!node.dicomweb) throw new PacsError(`PACS node "${node.name}" has no DICOMweb address`, false);
    this.node = node;
    this.#base = node.dicomweb.url;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  #authHeader(): Record<string, string> {
    const auth = this.node.dicomweb?.auth;
    if (!auth) return {};
    if ('bearer' in auth) return { Authorization: `Bearer ${auth.bearer}` };
    return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}` };
  }

  /** Sends a request; throws a PacsError for anything but 2xx (and 204). The URL never carries credentials. */
  async request(
    path: string,
    init: {
      method?: string;
      headers?: Record<string, string>;
      body?: Uint8Array<ArrayBuffer>;
      signal?: AbortSignal;
      what: string;
    },
  ): Promise<Response> {
    const url = `${this.#base}${path}`;
    const signals = [AbortSignal.timeout(this.#timeoutMs)];
    if (init.signal) signals.push(init.signal);
    let res: Response;
    try {
      res = await fetch(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...this.#authHeader() },
        body: init.body,
        signal: AbortSignal.any(signals),
        redirect: 'error',
      });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new PacsError(
        `could not reach PACS node "${this.node.name}" (${new URL(url).host}) to ${init.what}: ${describeNetworkError(e)}`,
        true,
        undefined,
        { cause: e },
      );
    }
    if (res.ok) return res;
    const detail = (await res.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 200);
    const statusText = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status === 401 || res.status === 403) {
      throw new PacsError(
        `PACS node "${this.node.name}" refused our credentials (${statusText}) when asked to ${init.what}; check its "auth" in PACS_NODES`,
        false,
        res.status,
      );
    }
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new PacsError(
      `PACS node "${this.node.name}" answered ${statusText} when asked to ${init.what}${detail ? `: ${detail}` : ''}`,
      retryable,
      res.status,
    );
  }

  async #json(path: string, what: string, signal?: AbortSignal): Promise<DicomJsonObject[]> {
    const res = await this.request(path, {
      headers: { Accept: 'application/dicom+json, application/json' },
      signal,
      what,
    });
    if (res.status === 204) return [];
    const text = await res.text();
    if (text.trim() === '') return [];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new PacsError(
        `PACS node "${this.node.name}" sent an answer that is not DICOM JSON when asked to ${what}`,
        false,
        res.status,
      );
    }
    if (!Array.isArray(body))
      throw new PacsError(
        `PACS node "${this.node.name}" sent an answer that is not a DICOM JSON list when asked to ${what}`,
        false,
        res.status,
      );
    return body as DicomJsonObject[];
  }

  searchStudies(query: URLSearchParams, signal?: AbortSignal): Promise<DicomJsonObject[]> {
    return this.#json(`/studies?${query}`, 'search studies', signal);
  }

  searchSeries(studyUid: string, query: URLSearchParams, signal?: AbortSignal): Promise<DicomJsonObject[]> {
    return this.#json(
      `/studies/${encodeURIComponent(studyUid)}/series?${query}`,
      'search the series of a study',
      signal,
    );
  }

  /**
   * WADO-RS retrieve of a study or series. Each part is handed to `onPart` as an async iterable of its
   * bytes, in order; the next part is not read before `onPart` returns (back-pressure to the network).
   */
  async retrieve(
    target: { studyUid: string; seriesUid?: string },
    onPart: (chunks: AsyncIterable<Buffer>, index: number) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<number> {
    const path = `/studies/${encodeURIComponent(target.studyUid)}${target.seriesUid ? `/series/${encodeURIComponent(target.seriesUid)}` : ''}`;
    const what = target.seriesUid ? 'send a series' : 'send a study';
    // Instances as stored (transfer-syntax=*, PS3.18 8.7.3.5.2) saves the node from transcoding; a node
    // that does not understand it gets a second request without it (Explicit VR Little Endian).
    let res: Response;
    try {
      res = await this.request(path, {
        headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
        signal,
        what,
      });
    } catch (e) {
      if (!(e instanceof PacsError) || (e.status !== 400 && e.status !== 406)) throw e;
      res = await this.request(path, {
        headers: { Accept: 'multipart/related; type="application/dicom"' },
        signal,
        what,
      });
    }
    if (res.status === 204 || !res.body) return 0;
    let boundary: string;
    try {
      const ct = parseContentType(res.headers.get('content-type') ?? '');
      if (ct.type !== 'multipart/related' || !ct.parameters.boundary) throw new Error('not multipart/related');
      boundary = ct.parameters.boundary;
    } catch {
      throw new PacsError(
        `PACS node "${this.node.name}" answered a WADO-RS retrieve with ${res.headers.get('content-type') ?? 'no content type'}, not multipart/related`,
        false,
        res.status,
      );
    }
    const tokenizer = new MultipartRelatedTokenizer(boundary);
    // Parts are delivered through a small queue so onPart can consume one part while the body streams.
    let parts = 0;
    let current: PartStream | undefined;
    let currentDone: Promise<void> | undefined;
    const handle = async (ev: MultipartEvent): Promise<void> => {
      if (ev.type === 'part') {
        parts += 1;
        current = new PartStream();
        currentDone = onPart(current, parts);
        // A failing consumer must not leave the producer waiting forever.
        currentDone.catch(() => current?.cancel());
      } else if (ev.type === 'data') {
        await current?.push(ev.chunk);
      } else {
        if (!ev.complete)
          current?.fail(
            new PacsError(`the retrieve from PACS node "${this.node.name}" ended in the middle of an instance`, true),
          );
        else current?.close();
        await currentDone;
        current = undefined;
        currentDone = undefined;
      }
    };
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const ev of tokenizer.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
          await handle(ev);
      }
      for (const ev of tokenizer.end()) await handle(ev);
    } catch (e) {
      current?.fail(e as Error);
      await currentDone?.catch(() => undefined);
      if (e instanceof PacsError || signal?.aborted) throw e;
      throw new PacsError(
        `the retrieve from PACS node "${this.node.name}" broke off: ${describeNetworkError(e)}`,
        true,
        undefined,
        { cause: e },
      );
    }
    return parts;
  }

  /** STOW-RS of Part-10 files into a study. Returns the node's per-instance outcome. */
  async store(
    studyUid: string,
    files: Buffer[],
    signal?: AbortSignal,
  ): Promise<{
    stored: string[];
    failed: Array<{ sopInstanceUid: string; reason: number | undefined }>;
    warnings: string[];
  }> {
    const boundary = `ag-${randomBytes(12).toString('hex')}`;
    const chunks: Buffer[] = [];
    for (const f of files) {
      chunks.push(
        Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${f.length}\r\n\r\n`),
        f,
        Buffer.from('\r\n'),
      );
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    const res = await this.request(`/studies/${encodeURIComponent(studyUid)}`, {
      method: 'POST',
      headers: {
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json, application/json',
      },
      body: new Uint8Array(Buffer.concat(chunks)),
      signal,
      what: 'store the segmentation',
    });
    const text = await res.text();
    const out = {
      stored: [] as string[],
      failed: [] as Array<{ sopInstanceUid: string; reason: number | undefined }>,
      warnings: [] as string[],
    };
    if (text.trim() === '') return out;
    let body: DicomJsonObject;
    try {
      body = JSON.parse(text) as DicomJsonObject;
    } catch {
      return out;
    }
    const items = (tag: string): DicomJsonObject[] => (body[tag]?.Value ?? []) as DicomJsonObject[];
    for (const it of items('00081199')) out.stored.push(String(it['00081155']?.Value?.[0] ?? ''));
    for (const it of items('00081198')) {
      const reason = it['00081197']?.Value?.[0];
      out.failed.push({
        sopInstanceUid: String(it['00081155']?.Value?.[0] ?? ''),
        reason: typeof reason === 'number' ? reason : undefined,
      });
    }
    const warning = body['00081196']?.Value?.[0];
    if (typeof warning === 'number') out.warnings.push(`warning reason 0x${warning.toString(16).toUpperCase()}`);
    return out;
  }
}

/** The bytes of one multipart part as an async iterable, fed by the response reader with back-pressure. */
class PartStream implements AsyncIterable<Buffer> {
  #queue: Buffer[] = [];
  #done = false;
  #error: Error | undefined;
  #cancelled = false;
  #wake: (() => void) | undefined;
  #drained: (() => void) | undefined;

  async push(chunk: Buffer): Promise<void> {
    if (this.#cancelled) return;
    this.#queue.push(Buffer.from(chunk));
    this.#wake?.();
    // Hold the producer while more than a few chunks wait to be written.
    if (this.#queue.length > 8) await new Promise<void>((r) => (this.#drained = r));
  }

  close(): void {
    this.#done = true;
    this.#wake?.();
  }

  fail(e: Error): void {
    this.#error = e;
    this.#done = true;
    this.#wake?.();
  }

  cancel(): void {
    this.#cancelled = true;
    this.#queue = [];
    this.#drained?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.#queue.length > 0) {
        const next = this.#queue.shift() as Buffer;
        if (this.#queue.length <= 2) {
          this.#drained?.();
          this.#drained = undefined;
        }
        yield next;
        continue;
      }
      if (this.#error) throw this.#error;
      if (this.#done) return;
      await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
    }
  }
}

/** First value of a DICOM JSON attribute as text (PN as its alphabetic form). */
export function jsonText(obj: DicomJsonObject, tag: string): string | undefined {
  const v = obj[tag]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const alpha = (v as { Alphabetic?: unknown }).Alphabetic;
    return typeof alpha === 'string' ? alpha : undefined;
  }
  return String(v);
}

export function jsonTexts(obj: DicomJsonObject, tag: string): string[] {
  return (obj[tag]?.Value ?? []).filter((v) => v !== null && v !== undefined).map(String);
}

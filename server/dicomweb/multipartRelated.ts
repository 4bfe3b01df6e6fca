/**
 * Streaming `multipart/related` (RFC 2387 / RFC 2046 §5.1) tokenizer for STOW-RS bodies.
 *
 * Written by hand because no sound npm library streams multipart/related: busboy and formidable only
 * accept multipart/form-data, `dicer` (the generic one) has an unfixed crash DoS (CVE-2022-24434), and
 * dcmjs' `multipartDecode` needs the whole body in memory. STOW requests carry hundreds of megabytes,
 * so parts must flow to disk chunk by chunk.
 *
 * The tokenizer is synchronous and push-based: `write(chunk)` returns the events that chunk completes,
 * so the caller can await each write to disk before reading the next chunk (natural backpressure) and
 * tests can split a body at every byte offset.
 */

export type MultipartEvent =
  | { type: 'part'; headers: Record<string, string> }
  | { type: 'data'; chunk: Buffer }
  /** `complete: false` when the body ended inside this part (no delimiter after it). */
  | { type: 'end'; complete: boolean };

export class MultipartSyntaxError extends Error {
  readonly status = 400;
  readonly expose = true;
  constructor(message: string) {
    super(message);
    this.name = 'MultipartSyntaxError';
  }
}

export interface MultipartLimits {
  /** Largest header block of one part (bytes). */
  maxHeaderBytes: number;
  /** Largest preamble before the first boundary; a body that never shows its boundary fails fast. */
  maxPreambleBytes: number;
}

const DEFAULT_LIMITS: MultipartLimits = { maxHeaderBytes: 16 * 1024, maxPreambleBytes: 64 * 1024 };

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

const State = {
  Preamble: 0,
  /** Just after a delimiter: expecting `--` (close), or optional whitespace then CRLF. */
  AfterBoundary: 1,
  Headers: 2,
  Body: 3,
  Epilogue: 4,
} as const;
type StateValue = (typeof State)[keyof typeof State];

export class MultipartRelatedTokenizer {
  readonly #delimiter: Buffer;
  readonly #limits: MultipartLimits;
  #state: StateValue = State.Preamble;
  // Starts with a CRLF so a delimiter at offset 0 (no preamble) matches like any other.
  #buf: Buffer = Buffer.from(CRLF);
  #preambleSeen = 0;
  #parts = 0;

  constructor(boundary: string, limits: Partial<MultipartLimits> = {}) {
    if (!isValidBoundary(boundary))
      throw new MultipartSyntaxError('the multipart boundary is missing or invalid (RFC 2046 characters, at most 200)');
    this.#delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get partCount(): number {
    return this.#parts;
  }

  /** Whether the closing delimiter has been seen. */
  get finished(): boolean {
    return this.#state === State.Epilogue;
  }

  write(chunk: Buffer): MultipartEvent[] {
    const events: MultipartEvent[] = [];
    if (this.#state === State.Epilogue) return events; // epilogue is ignored (RFC 2046)
    const d = this.#delimiter.length;
    if (this.#state === State.Body && this.#buf.length > 0 && chunk.length >= d - 1) {
      // In a body only a tail shorter than the delimiter is held back. Any delimiter starting in it ends
      // within its first d-1 bytes of the chunk, so look there; if none, the tail is data and the chunk is
      // scanned as it came, without copying it onto the tail (the body's bytes are then never copied:
      // parts reach the file as views of the socket's buffers).
      const tail = this.#buf;
      const at = Buffer.concat([tail, chunk.subarray(0, d - 1)]).indexOf(this.#delimiter);
      if (at < 0 || at >= tail.length) {
        events.push({ type: 'data', chunk: tail });
        this.#buf = chunk;
        this.#run(events);
        return events;
      }
    }
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#run(events);
    return events;
  }

  /** Call at end of input. Throws when no part was ever found. */
  end(): MultipartEvent[] {
    const events: MultipartEvent[] = [];
    switch (this.#state) {
      case State.Epilogue:
        break;
      case State.Body:
        // No closing delimiter: whatever was held back belongs to the unfinished part.
        if (this.#buf.length > 0) events.push({ type: 'data', chunk: this.#buf });
        events.push({ type: 'end', complete: false });
        break;
      case State.Preamble:
        throw new MultipartSyntaxError('the body does not contain the boundary given in Content-Type');
      default:
        if (this.#parts === 0) throw new MultipartSyntaxError('the body ended inside the first part headers');
        // Ended between a delimiter and the next part's body: the earlier parts are complete.
        break;
    }
    this.#buf = Buffer.alloc(0);
    this.#state = State.Epilogue;
    return events;
  }

  #run(events: MultipartEvent[]): void {
    for (;;) {
      switch (this.#state) {
        case State.Preamble: {
          const at = this.#buf.indexOf(this.#delimiter);
          if (at >= 0) {
            this.#buf = this.#buf.subarray(at + this.#delimiter.length);
            this.#state = State.AfterBoundary;
            continue;
          }
          const keep = Math.min(this.#buf.length, this.#delimiter.length - 1);
          this.#preambleSeen += this.#buf.length - keep;
          if (this.#preambleSeen > this.#limits.maxPreambleBytes) {
            throw new MultipartSyntaxError('the body does not contain the boundary given in Content-Type');
          }
          this.#buf = this.#buf.subarray(this.#buf.length - keep);
          return;
        }
        case State.AfterBoundary: {
          if (this.#buf.length < 2) return;
          if (this.#buf[0] === 0x2d && this.#buf[1] === 0x2d) {
            this.#state = State.Epilogue;
            this.#buf = Buffer.alloc(0);
            return;
          }
          const eol = this.#buf.indexOf(CRLF);
          if (eol < 0) {
            if (this.#buf.length > 256) throw new MultipartSyntaxError('malformed multipart delimiter line');
            return;
          }
          // RFC 2046 allows linear whitespace ("transport padding") after the boundary.
          if (!/^[ \t]*$/.test(this.#buf.subarray(0, eol).toString('latin1'))) {
            throw new MultipartSyntaxError('malformed multipart delimiter line');
          }
          this.#buf = this.#buf.subarray(eol + 2);
          this.#state = State.Headers;
          continue;
        }
        case State.Headers: {
          // A part with no headers at all starts directly with the blank line.
          let headerText: string;
          if (this.#buf.length >= 2 && this.#buf[0] === 0x0d && this.#buf[1] === 0x0a) {
            headerText = '';
            this.#buf = this.#buf.subarray(2);
          } else {
            const end = this.#buf.indexOf(HEADER_END);
            if (end < 0) {
              if (this.#buf.length > this.#limits.maxHeaderBytes)
                throw new MultipartSyntaxError(`part headers exceed ${this.#limits.maxHeaderBytes} bytes`);
              return;
            }
            if (end > this.#limits.maxHeaderBytes)
              throw new MultipartSyntaxError(`part headers exceed ${this.#limits.maxHeaderBytes} bytes`);
            headerText = this.#buf.subarray(0, end).toString('latin1');
            this.#buf = this.#buf.subarray(end + 4);
          }
          this.#parts += 1;
          events.push({ type: 'part', headers: parseHeaders(headerText) });
          this.#state = State.Body;
          continue;
        }
        case State.Body: {
          const at = this.#buf.indexOf(this.#delimiter);
          if (at >= 0) {
            if (at > 0) events.push({ type: 'data', chunk: this.#buf.subarray(0, at) });
            events.push({ type: 'end', complete: true });
            this.#buf = this.#buf.subarray(at + this.#delimiter.length);
            this.#state = State.AfterBoundary;
            continue;
          }
          // Hold back only a tail that could be the start of a delimiter split across chunks.
          const keep = partialSuffixLength(this.#buf, this.#delimiter);
          if (this.#buf.length > keep) {
            events.push({ type: 'data', chunk: this.#buf.subarray(0, this.#buf.length - keep) });
            this.#buf = Buffer.from(this.#buf.subarray(this.#buf.length - keep));
          }
          return;
        }
        case State.Epilogue:
          this.#buf = Buffer.alloc(0);
          return;
      }
    }
  }
}

/** Length of the longest suffix of `buf` that is a proper prefix of `needle`. */
function partialSuffixLength(buf: Buffer, needle: Buffer): number {
  const max = Math.min(buf.length, needle.length - 1);
  // Quick exit: almost every chunk ends in pixel data that is not a CR.
  const firstByte = needle[0];
  for (let len = max; len > 0; len--) {
    const start = buf.length - len;
    if (buf[start] !== firstByte) continue;
    if (buf.subarray(start).equals(needle.subarray(0, len))) return len;
  }
  return 0;
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  // Unfold continuation lines (RFC 5322 §2.2.3) before splitting.
  for (const line of text.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartSyntaxError('malformed part header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

/**
 * RFC 2046 §5.1.1 bchars, not ending in a space. The RFC caps the length at 70, but real senders exceed
 * it (Orthanc's DICOMweb client sends 73 characters: two UUIDs), so up to 200 are accepted.
 */
export function isValidBoundary(boundary: string): boolean {
  return /^[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]$/.test(boundary);
}

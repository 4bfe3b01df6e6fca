/**
 * Cuts the byte stream of a DICOM association into whole PDUs (PS3.8 §9.3: a 1-byte type, a reserved
 * byte and a 4-byte big-endian length, then that many bytes).
 *
 * Written here because dcmjs-dimse's own accumulator appends each socket chunk to the PDU received so
 * far with Buffer.concat: a 256 KiB P-DATA-TF PDU arriving in 64 KiB chunks is copied 2.25 times over
 * in three fresh buffers, and that churn of external memory kept the main thread's garbage collector
 * running a full mark-compact every few instances. Here the chunks of a PDU are kept as they are and
 * joined once, or handed on as a slice when the PDU lies in one chunk.
 */

/** PDU types of PS3.8 Table 9-11: A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF, A-RELEASE-RQ/RP, A-ABORT. */
const KNOWN_TYPES = new Set([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);

const HEADER = 6;

export class PduFramingError extends Error {}

export class PduFramer {
  readonly #emit: (pdu: Buffer) => void;
  readonly #maxLength: () => number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Length of the PDU being received (header included), once its header is in. */
  #needed = 0;
  #failed = false;

  /**
   * `emit` gets each whole PDU, header included, in order. `maxLength` bounds a PDU's length field
   * (a function: the bound may change, e.g. once an association is accepted): a peer announcing more is
   * refused rather than buffered.
   */
  constructor(emit: (pdu: Buffer) => void, maxLength: number | (() => number)) {
    this.#emit = emit;
    this.#maxLength = typeof maxLength === 'number' ? () => maxLength : maxLength;
  }

  /** Takes the next bytes from the socket; throws PduFramingError on a malformed stream (and after it). */
  push(chunk: Buffer): void {
    if (this.#failed) throw new PduFramingError('the association stream is already broken');
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#needed === 0) {
        if (this.#buffered < HEADER) return;
        const header = this.#peek(HEADER);
        const type = header[0];
        const length = header.readUInt32BE(2);
        if (!KNOWN_TYPES.has(type)) this.#fail(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`);
        const max = this.#maxLength();
        if (length > max) this.#fail(`a PDU of ${length} bytes is larger than the ${max} this end accepts now`);
        this.#needed = HEADER + length;
      }
      if (this.#buffered < this.#needed) return;
      const pdu = this.#take(this.#needed);
      this.#needed = 0;
      this.#emit(pdu);
    }
  }

  #fail(message: string): never {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    throw new PduFramingError(message);
  }

  /** The first `n` buffered bytes, without consuming them (n is small: a header). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks, n);
  }

  /** Removes and returns the first `n` buffered bytes: a slice when they lie in one chunk. */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0];
        const part = Math.min(c.length, n - at);
        c.copy(out, at, 0, part);
        at += part;
        if (part === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(part);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

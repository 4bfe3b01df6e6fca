import { Writable } from 'node:stream';
import type { InstanceHeader } from '../dicom/readHeader.ts';
import { StreamedInstanceFile } from '../ingest/streamedFile.ts';
import type { HeaderCheck } from '../ingest/storeInstance.ts';
import type { Staging } from '../storage/storage.ts';

/**
 * Data PDVs reach the spool whole, up to 256 KiB each (the PDU length the SCP advertises), so batching them up to
 * StreamedInstanceFile's default of 1 MB saved few writes but left a CT slice's every byte to be written after its
 * last PDV, while the sender waited for the response (docs/performance.md). At this threshold each large PDV is
 * written as it arrives, and PDVs of senders that use small PDUs are still gathered into writes of this size.
 */
export const SPOOL_WRITE_BATCH_BYTES = 128 * 1024;

/**
 * A temporary file that receives one C-STORE data set as its PDVs arrive, so a large instance never
 * sits whole in memory. The bytes go through StreamedInstanceFile, as STOW-RS parts do: fragments are
 * gathered into writev calls (SPOOL_WRITE_BATCH_BYTES), the head stays in memory, and `prepare` parses
 * the header from it and fsyncs through the same handle, rather than ingest reopening the file to read the
 * header, zero the preamble and fsync.
 *
 * dcmjs-dimse writes each fragment and ignores `write()`'s return value, so back-pressure is applied
 * here instead: when the file falls behind, `pause` stops reading from the socket (TCP then throttles
 * the sender) and `resume` restarts it once the backlog has drained. Errors (disk full, I/O error) are
 * kept, not thrown: the C-STORE response reports them.
 */
export class InstanceSpool extends Writable {
  error: NodeJS.ErrnoException | undefined;
  #file: StreamedInstanceFile | undefined;
  #paused = false;
  readonly #staging: Staging;
  readonly #header: Buffer;
  readonly #flowControl: { pause(): void; resume(): void };

  /** `header`: the preamble and File Meta Information the data set is stored behind (part10Header.ts). */
  constructor(staging: Staging, header: Buffer, flowControl: { pause(): void; resume(): void }) {
    // Not destroyed on 'finish': the file stays open for prepare() (discard() destroys).
    super({ highWaterMark: 4 << 20, decodeStrings: false, autoDestroy: false });
    this.#staging = staging;
    this.#header = header;
    this.#flowControl = flowControl;
    this.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      this.#resumeSocket();
    });
    this.on('drain', () => this.#resumeSocket());
    // A stream that is ending never emits 'drain': if the last fragments found the spool behind, the
    // socket would stay paused and the next C-STORE on the association would never be read.
    this.on('finish', () => this.#resumeSocket());
  }

  /** The temp file under DATA_DIR/tmp; known once the spool is open (always so after `finished()`). */
  get path(): string {
    return this.#file?.file ?? '';
  }

  /** Bytes in the file: the header and the data set received so far. */
  get bytesWritten(): number {
    return this.#file?.bytes ?? 0;
  }

  // The library calls write(chunk) for every fragment; returning true keeps it from awaiting a
  // 'drain' of its own, which it does not do reliably (see scp.ts).
  override write(chunk: Buffer): boolean {
    if (this.destroyed || this.writableEnded) return true;
    if (!super.write(chunk) && !this.#paused) {
      this.#paused = true;
      this.#flowControl.pause();
    }
    return true;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    StreamedInstanceFile.create(this.#staging, SPOOL_WRITE_BATCH_BYTES)
      .then(async (file) => {
        this.#file = file;
        await file.write(this.#header);
      })
      .then(
        () => callback(),
        (err: Error) => callback(err),
      );
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const file = this.#file;
    if (!file) return callback(new Error('spool file is not open'));
    (async () => {
      for (const { chunk } of chunks) await file.write(chunk);
    })().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  // Every byte reaches the file before 'finish', so a caller that takes the file by name sees it whole.
  override _final(callback: (error?: Error | null) => void): void {
    const file = this.#file;
    if (!file) return callback();
    file.flush().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#resumeSocket();
    const file = this.#file;
    if (!file) return callback(err);
    file.close().then(
      () => callback(err),
      () => callback(err),
    );
  }

  /** Resolves once every byte is in the file (not yet fsynced); rejects with the first error. */
  finished(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.writableFinished) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.off('finish', done);
        this.off('close', done);
        this.off('error', done);
        if (this.error) reject(this.error);
        else if (!this.writableFinished)
          reject(new Error('the spool file was closed before the data set was complete'));
        else resolve();
      };
      this.once('finish', done);
      this.once('close', done);
      this.once('error', done);
    });
  }

  /**
   * For storeInstance (InstanceSource.prepare): parses the header from the head kept in memory, runs
   * `check`, fsyncs and closes. Call after `finished()`.
   */
  async prepare(check: HeaderCheck, whileSyncing?: () => void): Promise<{ header: InstanceHeader; sizeBytes: number }> {
    const file = this.#file;
    if (!file) throw new Error('spool file is not open');
    return await file.prepare(check, whileSyncing);
  }

  /** Closes the file without fsync, for a caller that hands it on by name; idempotent. */
  async close(): Promise<void> {
    await this.#file?.close();
  }

  /** Closes the file (if still open) and deletes it. */
  async discard(): Promise<void> {
    if (!this.destroyed) this.destroy();
    await new Promise<void>((resolve) => (this.closed ? resolve() : this.once('close', () => resolve())));
    await this.#file?.discard();
  }

  #resumeSocket(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flowControl.resume();
  }
}

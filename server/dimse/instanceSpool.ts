import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * A temporary file that receives one C-STORE data set as its PDVs arrive, so a large instance never
 * sits whole in memory. dcmjs-dimse writes each fragment and ignores `write()`'s return value, so
 * back-pressure is applied here instead: when the file falls behind, `pause` stops reading from the
 * socket (TCP then throttles the sender) and `resume` restarts it once the backlog has drained.
 * Errors (disk full, I/O error) are kept, not thrown: the C-STORE response reports them.
 */
export class InstanceSpool extends Writable {
  readonly path: string;
  bytesWritten = 0;
  error: NodeJS.ErrnoException | undefined;
  #handle: FileHandle | undefined;
  #paused = false;
  readonly #flowControl: { pause(): void; resume(): void };

  constructor(path: string, header: Buffer, flowControl: { pause(): void; resume(): void }) {
    super({ highWaterMark: 4 << 20, decodeStrings: false });
    this.path = path;
    this.#flowControl = flowControl;
    this.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err;
      this.#resumeSocket();
    });
    this.on('drain', () => this.#resumeSocket());
    super.write(header);
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
    open(this.path, 'wx', 0o600).then(
      (handle) => {
        this.#handle = handle;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    const handle = this.#handle;
    if (!handle) return callback(new Error('spool file is not open'));
    writeAll(handle, buffers).then(
      (n) => {
        this.bytesWritten += n;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const handle = this.#handle;
    this.#handle = undefined;
    if (!handle) return callback();
    handle.close().then(() => callback(), (err: Error) => callback(err));
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.#handle;
    this.#handle = undefined;
    this.#resumeSocket();
    if (!handle) return callback(err);
    handle.close().then(() => callback(err), () => callback(err));
  }

  /** Resolves once every byte is in the file and it is closed; rejects with the first error. */
  finished(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.writableFinished && !this.#handle) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.off('finish', done);
        this.off('close', done);
        this.off('error', done);
        if (this.error) reject(this.error);
        else if (!this.writableFinished) reject(new Error('the spool file was closed before the data set was complete'));
        else resolve();
      };
      this.once('finish', done);
      this.once('close', done);
      this.once('error', done);
    });
  }

  /** Closes the file (if still open) and deletes it. */
  async discard(): Promise<void> {
    if (!this.destroyed) this.destroy();
    await new Promise<void>((resolve) => (this.closed ? resolve() : this.once('close', () => resolve())));
    await rm(this.path, { force: true });
  }

  #resumeSocket(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flowControl.resume();
  }
}

async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<number> {
  let total = 0;
  for (const b of buffers) total += b.length;
  let written = 0;
  let pending = buffers;
  while (written < total) {
    const { bytesWritten } = await handle.writev(pending);
    written += bytesWritten;
    if (written < total) pending = remainder(pending, bytesWritten);
  }
  return total;
}

/** The buffers left after a short writev of `skip` bytes. */
function remainder(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let left = skip;
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}

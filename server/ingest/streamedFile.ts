import { randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HEADER_READ_BYTES, readInstanceHeaderFrom, type InstanceHeader } from '../dicom/readHeader.ts';
import type { Staging } from '../storage/storage.ts';
import type { HeaderCheck } from './storeInstance.ts';

/** PS3.10 §7.5: the 128-byte preamble can carry executable content (CVE-2019-11687); it is stored as zeros. */
const PREAMBLE = 128;
const ZEROS = Buffer.alloc(PREAMBLE);

/**
 * By default received bytes are written once at least this much is waiting, in one writev of the chunks as they
 * came off the socket (no copy): a CT slice's many socket chunks become one write on the thread pool, which the
 * fsyncs of other instances also occupy. A caller whose chunks are already large passes a smaller threshold
 * (InstanceSpool).
 */
export const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * One instance streamed into a temp file under DATA_DIR/tmp (STOW-RS parts, C-STORE data sets). It keeps the first
 * HEADER_READ_BYTES in memory as received, so the header is parsed without reading the file back; the
 * preamble goes to disk as zeros; `prepare` parses, lets the caller reject, and fsyncs through the same
 * handle. Memory per instance: at most WRITE_BATCH_BYTES waiting plus the head.
 */
export class StreamedInstanceFile {
  readonly file: string;
  readonly #staging: Staging;
  readonly #fh: FileHandle;
  readonly #writeBatchBytes: number;
  /** The last flush started by prepare(), which reads from disk wait for. */
  #flushed: Promise<void> = Promise.resolve();
  #bytes = 0;
  #written = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #head: Buffer[] = [];
  #headBytes = 0;
  #closed = false;

  private constructor(staging: Staging, file: string, fh: FileHandle, writeBatchBytes: number) {
    this.#staging = staging;
    this.file = file;
    this.#fh = fh;
    this.#writeBatchBytes = writeBatchBytes;
  }

  /** `writeBatchBytes`: how much received data waits in memory before it is written (WRITE_BATCH_BYTES). */
  static async create(staging: Staging, writeBatchBytes = WRITE_BATCH_BYTES): Promise<StreamedInstanceFile> {
    // The staging folder exists after the first part; creating it (mkdir -p) only when the open says it is
    // missing saves one file-system call per part. Owner-only: the file holds patient data, and keeps
    // its mode when it is placed in the store.
    let file = join(staging.dir, `${randomUUID()}.part`);
    try {
      return new StreamedInstanceFile(staging, file, await open(file, 'wx+', 0o600), writeBatchBytes);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      file = await staging.newFile();
      return new StreamedInstanceFile(staging, file, await open(file, 'wx+', 0o600), writeBatchBytes);
    }
  }

  /** Bytes received so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Takes the chunk as is (the caller must not reuse it); resolves once it is written or queued. */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    const start = this.#bytes;
    this.#bytes += chunk.length;
    if (this.#headBytes < HEADER_READ_BYTES) {
      this.#head.push(chunk);
      this.#headBytes += chunk.length;
    }
    if (start < PREAMBLE) {
      const n = Math.min(PREAMBLE - start, chunk.length);
      this.#queue(ZEROS.subarray(0, n));
      if (n < chunk.length) this.#queue(chunk.subarray(n));
    } else {
      this.#queue(chunk);
    }
    if (this.#pendingBytes >= this.#writeBatchBytes) await this.#flush();
  }

  /** Writes everything queued so far (the file then holds every byte received, not yet fsynced). */
  async flush(): Promise<void> {
    await this.#flush();
  }

  #queue(b: Buffer): void {
    this.#pending.push(b);
    this.#pendingBytes += b.length;
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      // writev takes at most IOV_MAX (1024) buffers at a time.
      const batch = this.#pending.splice(0, 1024);
      const length = batch.reduce((s, b) => s + b.length, 0);
      this.#pendingBytes -= length;
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await this.#fh.writev(done === 0 ? batch : remainder(batch, done), this.#written);
        done += bytesWritten;
        this.#written += bytesWritten;
      }
    }
  }

  #read = async (position: number, length: number): Promise<Buffer> => {
    if (length <= 0) return Buffer.alloc(0);
    if (position + length <= this.#headBytes) {
      if (this.#head.length > 1) this.#head = [Buffer.concat(this.#head)];
      return this.#head[0].subarray(position, position + length);
    }
    // Beyond the head (a header larger than 128 KB, a deflated data set, encapsulated pixel data checks):
    // read back what is on disk, once the last bytes are written. Its zeroed preamble does not matter: the
    // DICM check used the head.
    await this.#flushed;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  };

  /**
   * Writes what is left, parses the header, runs `check` (which throws to reject), fsyncs (calling
   * `whileSyncing` once the fsync is on the thread pool) and closes.
   * On any failure the handle is closed; the caller (storeInstance) removes the file.
   */
  async prepare(check: HeaderCheck, whileSyncing?: () => void): Promise<{ header: InstanceHeader; sizeBytes: number }> {
    // The header is parsed on this thread while the last write (a STOW-RS part's tail) runs on the thread
    // pool, rather than after it.
    const flushed = this.#flush();
    this.#flushed = flushed.catch(noop);
    try {
      const header = await readInstanceHeaderFrom({ size: this.#bytes, read: this.#read });
      check(header, this.#bytes);
      this.#head = [];
      await flushed;
      const synced = this.#fh.sync();
      whileSyncing?.();
      await synced;
      return { header, sizeBytes: this.#bytes };
    } finally {
      // Never close the handle under a write still in flight (a rejected header does not wait for it above).
      await this.#flushed;
      await this.#close();
    }
  }

  /** Drops the part (incomplete, too large, refused): closes and deletes the temp file. */
  async discard(): Promise<void> {
    this.#pending = [];
    this.#head = [];
    await this.#close();
    await this.#staging.remove(this.file);
  }

  /** Closes the handle without fsync (for a caller that hands the file on by name); idempotent. */
  async close(): Promise<void> {
    this.#head = [];
    await this.#close();
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close();
  }
}

/**
 * Temp files for the parts of one request, each opened while the part before it is received: creating a file is a
 * thread-pool round trip between a part's boundary and its first write (docs/performance.md). From the second part
 * on, the file for the next part is opened ahead, so a one-instance request opens no spare.
 */
export class PartFiles {
  readonly #staging: Staging;
  #ahead: Promise<StreamedInstanceFile> | undefined;
  #taken = 0;

  constructor(staging: Staging) {
    this.#staging = staging;
  }

  /** The file for the next part. */
  async next(): Promise<StreamedInstanceFile> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (++this.#taken >= 2) {
      const opening = StreamedInstanceFile.create(this.#staging);
      opening.catch(noop); // if it failed, next() opens one again
      this.#ahead = opening;
    }
    if (ahead) {
      try {
        return await ahead;
      } catch {
        // opened again below, where a lasting failure reaches the caller
      }
    }
    return await StreamedInstanceFile.create(this.#staging);
  }

  /** Deletes the file opened ahead for a part that never came. */
  async close(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    await ahead?.then((file) => file.discard(), noop);
  }
}

function noop(): void {}

/** The buffers of `batch` after its first `skip` bytes (a short writev). */
function remainder(batch: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of batch) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

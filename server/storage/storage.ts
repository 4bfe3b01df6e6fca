import type { Readable } from 'node:stream';

/**
 * The storage seam (Orthanc's IStorageArea): where stored instances, uploaded volumes and results live, and how
 * they are written durably. Everything outside server/storage/ names what it stores by key (layout.ts) and goes
 * through this interface; the local file system (localStorage.ts) is its one implementation today. An object
 * store would implement the same calls, keeping `staging` and `scratch` on local disk.
 */
export interface Storage {
  /** Local files that receivers write into before `place` (never acknowledged to anyone while there). */
  readonly staging: Staging;

  /**
   * Makes a staged file the content of `key`, replacing what was there. The staged file's bytes must already
   * be durable (fsynced, see `syncFile`); when this resolves, so is its name under `key`.
   */
  place(staged: string, key: string): Promise<void>;

  /** Reads the whole content. */
  read(key: string): Promise<Buffer>;
  /** A stream of the content, or of bytes `start`..`end` inclusive. */
  createReadStream(key: string, options?: { start?: number; end?: number; highWaterMark?: number }): Readable;
  /** Size, time and identity of what is stored at `key`, or undefined. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** Whether something is stored at `key`. */
  has(key: string): Promise<boolean>;
  /** Removes `key`; false when there was nothing. */
  remove(key: string): Promise<boolean>;
  /**
   * Removes `key` only while it still holds the object `identity` names (one read earlier): a replacement
   * stored meanwhile under the same key stays.
   */
  removeIfSame(key: string, identity: string): Promise<'removed' | 'kept' | 'missing'>;
  /** Every key under `prefix` (a '/'-terminated folder key). */
  list(prefix: string): AsyncIterable<string>;
  /**
   * A local file holding `key`'s content, for readers that need a path (volume readers, engines, DICOM senders).
   * For the local store that is the stored file itself.
   */
  localPath(key: string): string;

  /**
   * A fresh local folder for writing the files of a result; `commit` makes them the result `resultId` as a whole
   * (an earlier one is replaced, never half-written), `discard` drops them. Folders left by a crashed attempt of
   * the same result are removed here.
   */
  stageResult(resultId: string): Promise<StagedResult>;
  /** Removes a result and all its files. */
  removeResult(resultId: string): Promise<void>;

  /** A fresh local working folder for one run of a job (engine scratch files); removed by the caller. */
  scratch(name: string): Promise<string>;

  /** Free space where new objects go, in MiB. */
  freeSpaceMb(): Promise<number>;
}

export interface StoredObject {
  size: number;
  mtime: Date;
  /** Tells a replacement under the same key from the object read before (for the local store: device and inode). */
  identity: string;
}

export interface StagedResult {
  readonly dir: string;
  /** Moves the staged files into place as the result; returns their names and sizes, sorted by name. */
  commit(): Promise<Array<{ name: string; size: number }>>;
  discard(): Promise<void>;
}

export interface Staging {
  readonly dir: string;
  /** A new, not yet existing path in the staging folder (generated name, never a client's). */
  newFile(suffix?: string): Promise<string>;
  /** Removes a staged file; missing is fine (it may have been placed already). */
  remove(file: string | undefined): Promise<void>;
  /** Deletes leftovers older than `olderThanMs` (default: all); at start-up, before anything is received. */
  clean(olderThanMs?: number): Promise<number>;
}

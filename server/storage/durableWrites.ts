import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * The local store's durable-write rules: a file is written under a temporary name and fsynced, renamed into
 * place, and its directory fsynced, so a power cut leaves either the old state or the whole new file.
 */

/** fsync a file's data and metadata. */
export async function syncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so a rename or new entry in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface DirSync {
  running: Promise<void>;
  /** The next fsync, shared by everyone who asked while `running` was already under way. */
  queued?: Promise<void>;
}

/**
 * Directory fsyncs shared by concurrent callers (group commit for directory entries): a caller is covered by an
 * fsync that starts after its rename, so callers arriving while one runs share the next one. The parts of one
 * request land in one series directory, so this is about one directory fsync per batch rather than per instance.
 */
export class DirectorySyncs {
  readonly #syncs = new Map<string, DirSync>();

  sync(dir: string): Promise<void> {
    const state = this.#syncs.get(dir);
    if (!state) {
      const s: DirSync = { running: fsyncDir(dir) };
      this.#syncs.set(dir, s);
      this.#settleWhenDone(dir, s);
      return s.running;
    }
    if (!state.queued) {
      state.queued = state.running.then(noop, noop).then(() => {
        state.queued = undefined;
        state.running = fsyncDir(dir);
        this.#settleWhenDone(dir, state);
        return state.running;
      });
    }
    return state.queued;
  }

  #settleWhenDone(dir: string, s: DirSync): void {
    const settle = (): void => {
      if (this.#syncs.get(dir) === s && s.queued === undefined) this.#syncs.delete(dir);
    };
    s.running.then(settle, settle);
  }
}

const MAX_KNOWN_DIRS = 10_000;

/**
 * Directories known to be durable down from the store's root (each entry: the promise of making it so). A series
 * directory is made durable once (mkdir -p, then fsync of every ancestor up to the root, whether this call or a
 * concurrent one created it), so later instances of the series only rename and fsync the series directory.
 * Rename-first would be unsafe alone: the directory may exist while its creator is still fsyncing the parents,
 * so everyone waits on the same promise.
 */
export class DurableDirectories {
  readonly #root: string;
  readonly #syncs: DirectorySyncs;
  readonly #known = new Map<string, Promise<void>>();

  constructor(root: string, syncs: DirectorySyncs) {
    this.#root = root;
    this.#syncs = syncs;
  }

  ensure(dir: string): Promise<void> {
    let ready = this.#known.get(dir);
    if (!ready) {
      if (this.#known.size >= MAX_KNOWN_DIRS) this.#known.clear(); // forgetting only costs a re-check
      ready = (async () => {
        await mkdir(dir, { recursive: true });
        const parents: string[] = [];
        for (let d = dirname(dir); d.length >= this.#root.length; d = dirname(d)) {
          parents.push(d);
          if (d === this.#root) break;
        }
        await Promise.all(parents.map((p) => this.#syncs.sync(p)));
      })();
      this.#known.set(dir, ready);
      ready.catch(() => this.#known.delete(dir));
    }
    return ready;
  }

  /** Moves a durable file into `dest` and fsyncs its directory; a directory removed meanwhile is made again. */
  async place(file: string, dest: string): Promise<void> {
    const dir = dirname(dest);
    await this.ensure(dir);
    try {
      await rename(file, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.#known.delete(dir);
      await this.ensure(dir);
      await rename(file, dest);
    }
    await this.#syncs.sync(dir);
  }
}

function noop(): void {}

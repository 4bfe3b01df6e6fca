import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { DirectorySyncs, DurableDirectories } from './durableWrites.ts';
import { isSafeKey } from './layout.ts';
import { LocalStaging } from './staging.ts';
import { makeOwnerOnly } from './ownerOnly.ts';
import type { StagedResult, Storage, StoredObject } from './storage.ts';

/** The store as folders and files under one root (DATA_DIR), written with durableWrites.ts's rules. */
export class LocalStorage implements Storage {
  readonly root: string;
  readonly staging: LocalStaging;
  readonly #dirs: DurableDirectories;

  constructor(root: string) {
    this.root = resolve(root);
    this.staging = new LocalStaging(join(this.root, 'tmp'));
    this.#dirs = new DurableDirectories(this.root, new DirectorySyncs());
  }

  localPath(key: string): string {
    if (!isSafeKey(key)) throw new Error('a storage key must be a relative path inside the store');
    const abs = join(this.root, ...key.split('/'));
    if (!abs.startsWith(this.root + sep)) throw new Error('a storage key must be a relative path inside the store');
    return abs;
  }

  place(staged: string, key: string): Promise<void> {
    return this.#dirs.place(staged, this.localPath(key));
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.localPath(key));
  }

  createReadStream(key: string, options?: { start?: number; end?: number; highWaterMark?: number }): Readable {
    return createReadStream(this.localPath(key), options);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const s = await stat(this.localPath(key));
      if (!s.isFile()) return undefined;
      return { size: s.size, mtime: s.mtime, identity: `${s.dev}:${s.ino}` };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  has(key: string): Promise<boolean> {
    // A stat of a cached directory entry takes microseconds; on the thread pool it would queue behind fsyncs.
    return Promise.resolve(existsSync(this.localPath(key)));
  }

  async remove(key: string): Promise<boolean> {
    try {
      await rm(this.localPath(key));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * The file is first renamed aside (into the staging folder, which start-up empties) so the check and the
   * removal look at the same file; a newer file found there is linked back, unless an even newer one took the
   * name meanwhile. A replacement is a new inode (placing renames a new file over the name).
   */
  async removeIfSame(key: string, identity: string): Promise<'removed' | 'kept' | 'missing'> {
    const abs = this.localPath(key);
    await mkdir(this.staging.dir, { recursive: true });
    const aside = join(this.staging.dir, `${randomUUID()}.delete`);
    try {
      await rename(abs, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw e;
    }
    const s = await stat(aside);
    if (`${s.dev}:${s.ino}` === identity) {
      await rm(aside, { force: true });
      return 'removed';
    }
    try {
      await link(aside, abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    await rm(aside, { force: true });
    return 'kept';
  }

  async *list(prefix: string): AsyncIterable<string> {
    const folder = prefix.replace(/\/$/, '');
    let entries;
    try {
      entries = await readdir(this.localPath(folder), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const key = `${folder}/${entry.name}`;
      if (entry.isDirectory()) yield* this.list(`${key}/`);
      else if (entry.isFile()) yield key;
    }
  }

  async stageResult(resultId: string): Promise<StagedResult> {
    const resultsDir = join(this.root, 'results');
    const finalDir = this.localPath(`results/${resultId}`);
    await removeFoldersStartingWith(resultsDir, `.tmp-${resultId}-`);
    const dir = join(resultsDir, `.tmp-${resultId}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return {
      dir,
      async commit() {
        const files: Array<{ name: string; size: number }> = [];
        for (const name of (await readdir(dir)).sort()) files.push({ name, size: (await stat(join(dir, name))).size });
        // A copied file keeps its source's mode (an engine's output made under another umask): results hold patient data.
        await makeOwnerOnly(dir);
        await replaceDir(dir, finalDir);
        return files;
      },
      async discard() {
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  async removeResult(resultId: string): Promise<void> {
    await rm(this.localPath(`results/${resultId}`), { recursive: true, force: true });
  }

  async scratch(name: string): Promise<string> {
    const workDir = join(this.root, 'work');
    await removeFoldersStartingWith(workDir, `${name}-`);
    const dir = join(workDir, `${name}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async freeSpaceMb(): Promise<number> {
    await mkdir(this.root, { recursive: true });
    const s = await statfs(this.root);
    return Math.floor((s.bavail * s.bsize) / (1024 * 1024));
  }
}

/** Folders an earlier attempt of a job left when its process died; only the lease holder gets here. */
async function removeFoldersStartingWith(dir: string, prefix: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) await rm(join(dir, n), { recursive: true, force: true });
}

/** Moves `from` to `to`, replacing an older folder there without a moment where neither exists half-written. */
async function replaceDir(from: string, to: string): Promise<void> {
  const old = `${to}.old-${randomBytes(4).toString('hex')}`;
  let moved = false;
  try {
    await rename(to, old);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await rename(from, to);
  if (moved) await rm(old, { recursive: true, force: true });
}

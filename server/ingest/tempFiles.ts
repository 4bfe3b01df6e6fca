import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';

/**
 * Everything being received is written under DATA_DIR/tmp with a generated name (never a client's),
 * then renamed into place. Anything still here after a restart was never acknowledged to a sender.
 */
export function tempDir(config: Pick<Config, 'dataDir'>): string {
  return join(config.dataDir, 'tmp');
}

export async function newTempPath(config: Pick<Config, 'dataDir'>, suffix = '.part'): Promise<string> {
  const dir = tempDir(config);
  await mkdir(dir, { recursive: true });
  return join(dir, `${randomUUID()}${suffix}`);
}

/** Removes a temp file; missing is fine (it may have been renamed into place already). */
export async function removeTemp(file: string | undefined): Promise<void> {
  if (file) await rm(file, { force: true });
}

/** Deletes leftovers older than `olderThanMs` (default: all); call at start-up before accepting input. */
export async function cleanTempDir(config: Pick<Config, 'dataDir'>, olderThanMs = 0): Promise<number> {
  const dir = tempDir(config);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  const cutoff = Date.now() - olderThanMs;
  for (const name of names) {
    const p = join(dir, name);
    try {
      if ((await stat(p)).mtimeMs <= cutoff) {
        await rm(p, { recursive: true, force: true });
        removed += 1;
      }
    } catch {
      // raced with a concurrent rename: nothing to do
    }
  }
  return removed;
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

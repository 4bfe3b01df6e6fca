import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Staging } from './storage.ts';

/**
 * Everything being received is written under DATA_DIR/tmp with a generated name (never a client's), then placed.
 * Anything still here after a restart was never acknowledged to a sender.
 */
export class LocalStaging implements Staging {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async newFile(suffix = '.part'): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    return join(this.dir, `${randomUUID()}${suffix}`);
  }

  async remove(file: string | undefined): Promise<void> {
    if (file) await rm(file, { force: true });
  }

  async clean(olderThanMs = 0): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const name of names) {
      const p = join(this.dir, name);
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
}

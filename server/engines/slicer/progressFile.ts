import { open } from 'node:fs/promises';

/**
 * Follows a file another process appends lines to (the Slicer script's progress.jsonl). Slicer on
 * Windows drops the script's stdout, so this file, not the pipe, is how progress arrives. Polling
 * is used because fs.watch misses appends on network shares and some Windows setups.
 */
export function followLines(path: string, onLine: (line: string) => void, intervalMs = 500): { stop(): Promise<void> } {
  let offset = 0;
  let partial = '';
  let reading: Promise<void> = Promise.resolve();
  const readNew = async (): Promise<void> => {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch {
      return; // not created yet
    }
    try {
      const { size } = await handle.stat();
      if (size <= offset) return;
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(line);
    } finally {
      await handle.close();
    }
  };
  const tick = (): void => {
    reading = reading.then(readNew).catch(() => {});
  };
  const timer = setInterval(tick, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      tick();
      await reading;
      if (partial.trim() !== '') onLine(partial);
      partial = '';
    },
  };
}

import { createHash } from 'node:crypto';
import type { Storage } from '../storage/storage.ts';

/**
 * A digest of a series' images: each key (which derives from the study, series and SOP Instance UIDs) with a hash of
 * its bytes, in key order. Equal digests mean the same instances with the same content.
 */
export async function digestSeriesImages(storage: Storage, sortedKeys: readonly string[]): Promise<string> {
  const series = createHash('sha256');
  for (const key of sortedKeys) {
    const file = createHash('sha256');
    for await (const chunk of storage.createReadStream(key)) file.update(chunk as Buffer);
    series.update(`${key}\n${file.digest('hex')}\n`);
  }
  return series.digest('hex');
}

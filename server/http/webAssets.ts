import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where scripts/build-web.ts writes the bundled pages and assets. */
export const WEB_DIST = join(import.meta.dirname, '..', '..', 'dist', 'web');

/**
 * The build writes content-hashed asset names (so they can be cached for a year) and this map from
 * the stable name ("phone.css") to the served path ("/assets/phone-AB12CD.css").
 */
export type WebManifest = Record<string, string>;

let cached: { dir: string; manifest: WebManifest } | undefined;

export function webManifest(dir: string = WEB_DIST): WebManifest {
  if (cached?.dir === dir) return cached.manifest;
  let manifest: WebManifest = {};
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as WebManifest;
    cached = { dir, manifest };
  } catch {
    // Not built yet: pages say so; the phone page falls back to unstyled HTML. Not cached, so a
    // build made while the server runs is picked up.
  }
  return manifest;
}

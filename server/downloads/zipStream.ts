import { basename, extname } from 'node:path';
import type { Readable } from 'node:stream';
import { ZipArchive, type ZipEntryData } from 'archiver';

/** A file on disk and the name it gets inside the zip. */
export interface ZipEntry {
  path: string;
  name: string;
  mtime?: Date;
}

/**
 * Formats that deflate well enough to be worth the CPU. Everything else (.glb, .nii.gz, images) is
 * already compressed or nearly incompressible binary, and storing it runs at disk speed instead of
 * the 5-30x slower deflate (docs/performance.md).
 */
const DEFLATE_EXTENSIONS = new Set(['.gltf', '.json', '.txt', '.csv', '.obj', '.mtl', '.html', '.xml', '.ply']);

export function shouldStore(name: string): boolean {
  return !DEFLATE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** Names inside the archive: no directories, and no two alike ("a.glb", "a (2).glb"). */
export function uniqueEntryNames(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.map((raw) => {
    const clean = basename(raw.replaceAll('\\', '/')).replace(/[\x00-\x1f]/g, '_') || 'file';
    let candidate = clean;
    const dot = clean.endsWith('.nii.gz')
      ? clean.length - 7
      : clean.lastIndexOf('.') > 0
        ? clean.lastIndexOf('.')
        : clean.length;
    for (let n = 2; seen.has(candidate.toLowerCase()); n++)
      candidate = `${clean.slice(0, dot)} (${n})${clean.slice(dot)}`;
    seen.add(candidate.toLowerCase());
    return candidate;
  });
}

/**
 * Streams a zip of `entries` as it is read: nothing is built in memory or in a temporary file, and
 * back-pressure from the client's socket pauses the file reads. Files are opened one at a time,
 * only when the archive reaches them. The caller pipes the result and must destroy it if the
 * client goes away (archiver then stops reading).
 */
export function createZipStream(entries: readonly ZipEntry[]): Readable {
  // forceZip64 is left off: archiver switches to zip64 per entry when a file passes 4 GB.
  // statConcurrency 1: archiver appends files in the order their stat() returns, and a download
  // should list files in the order they were chosen.
  const archive = new ZipArchive({ zlib: { level: 1 }, highWaterMark: 1 << 20, statConcurrency: 1 });
  const names = uniqueEntryNames(entries.map((e) => e.name));
  entries.forEach((entry, i) => {
    // file() opens lazily (lazystream), so a 500-file zip holds one descriptor at a time.
    const data: ZipEntryData = { name: names[i], store: shouldStore(names[i]) };
    if (entry.mtime) data.date = entry.mtime;
    archive.file(entry.path, data);
  });
  // archiver only warns when a file has vanished (ENOENT) and leaves it out; a download that
  // silently lacks a model is worse than one that visibly fails.
  archive.on('warning', (error) => {
    archive.abort();
    archive.destroy(error);
  });
  void archive.finalize().catch(() => {
    // Reported through the stream's 'error' event, which the consumer handles.
  });
  return archive;
}

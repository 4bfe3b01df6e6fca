import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { InstanceRejectedError } from '../dicom/failure.ts';
import { describeNonDicom } from '../dicom/sniff.ts';
import { fillBlankUids } from '../dicom/blankUids.ts';
import { markUidsGenerated } from '../dicomIndex/seriesSubjects.ts';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { formatOf, readFileHead, stripFormatExtension, type InputFormat } from '../volume/formats.ts';
import { INGEST_LIMITS } from './limits.ts';
import type { ProcessPayload } from '../jobs/kinds.ts';
import { safeBaseName } from '../results/names.ts';
import { syncFile } from '../storage/durableWrites.ts';
import { volumeKey } from '../storage/layout.ts';
import { checkFreeDisk } from './admission.ts';
import type { UploadDeps } from './deps.ts';
import { storeInstance, type IngestOrigin } from './storeInstance.ts';

/**
 * The browser/drop-folder way in: one received file (written by us to DATA_DIR/tmp) is recognised by
 * content and becomes a stored DICOM instance, a `process` job for a NIfTI/NRRD volume, or the entries
 * of a zip archive, each handled the same way. Client file names are only echoed back in the report.
 */

export type Accepted =
  | {
      file: string;
      kind: 'dicom';
      studyInstanceUid: string;
      seriesInstanceUid: string;
      sopInstanceUid: string;
      volumeImage: boolean;
      /** UIDs that were blank in the file and generated from its content (browser uploads only). */
      generatedUids?: string[];
    }
  | { file: string; kind: 'volume'; format: 'nifti' | 'nrrd'; jobId: string };

export interface Rejected {
  file: string;
  reason: string;
}

export interface IngestReport {
  accepted: Accepted[];
  rejected: Rejected[];
}

/** Display form of a client-supplied name: no control characters, bounded length. */
export function displayName(name: string | undefined): string {
  const cleaned = (name ?? '')
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .slice(0, 255);
  return cleaned === '' ? '(unnamed file)' : cleaned;
}

/** A zip archive's local file header signature. */
function isZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
}

async function acceptVolume(
  deps: UploadDeps,
  temp: string,
  format: InputFormat,
  head: Buffer,
  name: string,
): Promise<Accepted> {
  const id = randomUUID();
  const key = volumeKey(id, format.storedExtension?.(head) ?? '.nii');
  await syncFile(temp);
  await deps.storage.place(temp, key);
  const payload: ProcessPayload = {
    name: safeBaseName(stripFormatExtension(name), id),
    input: { kind: 'volume-file', file: key, originalName: name },
  };
  const job = await deps.queue.add('process', payload);
  deps.events.emit({ type: 'ingest', files: 1 });
  deps.logger.info({ jobId: job.id, format: format.name }, 'volume file accepted');
  return { file: name, kind: 'volume', format: format.name as 'nifti' | 'nrrd', jobId: job.id };
}

/**
 * Handles one received temp file (takes ownership: it is moved or deleted). `depth` > 0 inside a zip,
 * where nested archives are not opened.
 */
export async function ingestFile(
  deps: UploadDeps,
  temp: string,
  name: string,
  origin: IngestOrigin,
  report: IngestReport,
  depth = 0,
): Promise<void> {
  let owned = true;
  try {
    const file = await readFileHead(temp);
    const format = formatOf(file);
    if (format?.name === 'dicom') {
      const generatedUids = origin.via === 'upload' ? await fillBlankUidsInPlace(temp) : undefined;
      owned = false;
      const s = await storeInstance(deps, { file: temp }, origin);
      if (generatedUids) await markUidsGenerated(deps.db, [s.seriesInstanceUid]);
      report.accepted.push({
        file: name,
        kind: 'dicom',
        studyInstanceUid: s.studyInstanceUid,
        seriesInstanceUid: s.seriesInstanceUid,
        sopInstanceUid: s.sopInstanceUid,
        volumeImage: s.volumeImage,
        ...(generatedUids ? { generatedUids } : {}),
      });
      return;
    }
    if (format?.read) {
      const refusal = format.refusal?.(file.head, file.inflated);
      if (refusal) {
        report.rejected.push({ file: name, reason: refusal });
        return;
      }
      await checkFreeDisk(deps);
      owned = false;
      report.accepted.push(await acceptVolume(deps, temp, format, file.head, name));
      return;
    }
    if (isZip(file.head)) {
      if (depth > 0) {
        report.rejected.push({ file: name, reason: 'archive inside an archive: nested zip files are not opened' });
        return;
      }
      await ingestZip(deps, temp, name, origin, report);
      return;
    }
    report.rejected.push({
      file: name,
      reason: `${describeNonDicom(file.head, file.size, file.inflated)}; accepted are DICOM files, zip archives of them, .nii, .nii.gz and .nrrd`,
    });
  } catch (e) {
    if (e instanceof InstanceRejectedError) {
      report.rejected.push({ file: name, reason: e.message });
      return;
    }
    deps.logger.error({ err: e }, 'ingesting an uploaded file failed');
    report.rejected.push({ file: name, reason: 'internal error while storing this file; please send it again' });
  } finally {
    if (owned) await deps.storage.staging.remove(temp);
  }
}

/** Files of an anonymised folder larger than this keep the refusal of their blank UIDs (they are read whole). */
const MAX_UID_REWRITE_BYTES = 256 * 1024 * 1024;

/**
 * A browser upload's blank Study/Series/SOP Instance UIDs, filled in the received file with UIDs derived from
 * its content (server/dicom/blankUids.ts); undefined when none was blank.
 */
async function fillBlankUidsInPlace(temp: string): Promise<string[] | undefined> {
  if ((await stat(temp)).size > MAX_UID_REWRITE_BYTES) return undefined;
  const filled = fillBlankUids(await readFile(temp));
  if (!filled) return undefined;
  await writeFile(temp, filled.bytes);
  return filled.generated;
}

function openZip(file: string): Promise<ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      file,
      { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
      (err, zip) => {
        if (err || !zip) reject(err ?? new Error('cannot open zip'));
        else resolve(zip);
      },
    );
  });
}

function entryName(entry: Entry): string {
  const raw = entry.fileNameRaw ?? Buffer.from(String(entry.fileName), 'latin1');
  // Bit 11: the name is UTF-8; otherwise CP437, which latin1 approximates for display.
  return raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1');
}

/** Why an entry name is unsafe (zip-slip), or undefined. The name is never used as a path anyway. */
export function unsafeEntryName(name: string): string | undefined {
  if (name.includes('\0')) return 'entry name contains a NUL byte';
  const n = name.replace(/\\/g, '/');
  if (n.startsWith('/') || /^[A-Za-z]:/.test(n)) return 'entry has an absolute path';
  if (n.split('/').includes('..')) return 'entry path contains ".." (path traversal)';
  return undefined;
}

function isJunkEntry(name: string): boolean {
  const n = name.replace(/\\/g, '/');
  const base = n.split('/').pop() ?? '';
  return (
    n.startsWith('__MACOSX/') ||
    base === '.DS_Store' ||
    base === 'Thumbs.db' ||
    base === 'desktop.ini' ||
    base.startsWith('._')
  );
}

/**
 * Where each entry's data lies in the archive. Entries of an honest zip never share bytes; several central
 * directory entries pointing into one deflate stream expand it many times over without any ratio looking odd.
 */
class EntrySpans {
  /** [start, end) of the entries so far, sorted by start. */
  readonly #spans: Array<[number, number]> = [];

  /** Records the entry's span; false when it overlaps one already seen. */
  add(entry: Entry): boolean {
    // The local header is at least 30 bytes plus the name; its extra field may differ from the central one.
    const start = entry.relativeOffsetOfLocalHeader;
    const end = start + 30 + entry.fileNameLength + entry.compressedSize;
    const spans = this.#spans;
    let lo = 0;
    let hi = spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid][0] < start) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && spans[lo - 1][1] > start) return false;
    if (lo < spans.length && spans[lo][0] < end) return false;
    spans.splice(lo, 0, [start, end]);
    return true;
  }
}

/**
 * How much one archive may expand to in all: the expansion ratio times its size (at least 16 MiB, so small archives
 * of small files pass), never more than the total limit or the disk space above MIN_FREE_DISK_MB.
 */
async function extractionCap(
  deps: Pick<UploadDeps, 'config' | 'storage'>,
  zipPath: string,
): Promise<{ bytes: number; why: string }> {
  const L = INGEST_LIMITS;
  const size = (await stat(zipPath)).size;
  const byRatio = Math.max(size * L.maxZipExpansionRatio, 16 * 1024 * 1024);
  let cap = { bytes: byRatio, why: `${L.maxZipExpansionRatio} times its size` };
  if (L.maxZipTotalBytes < cap.bytes) cap = { bytes: L.maxZipTotalBytes, why: 'the limit for one archive' };
  if (deps.config.minFreeDiskMb > 0) {
    const free = (await deps.storage.freeSpaceMb().catch(() => Infinity)) - deps.config.minFreeDiskMb;
    const bytes = Math.max(0, free) * 1024 * 1024;
    if (bytes < cap.bytes) cap = { bytes, why: 'the free disk space above MIN_FREE_DISK_MB' };
  }
  return cap;
}

function openEntryStream(zip: ZipFile, entry: Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) reject(err ?? new Error('cannot read zip entry'));
      else resolve(stream);
    });
  });
}

/**
 * Streams each entry of a zip to its own temp file and ingests it. Bounded against zip bombs: entry
 * count, per-entry size and compression ratio, total expansion; yauzl checks actual sizes against the
 * declared ones while streaming.
 */
async function ingestZip(
  deps: UploadDeps,
  zipPath: string,
  zipName: string,
  origin: IngestOrigin,
  report: IngestReport,
): Promise<void> {
  let zip: ZipFile;
  try {
    zip = await openZip(zipPath);
  } catch (e) {
    report.rejected.push({ file: zipName, reason: `unreadable zip archive (${(e as Error).message})` });
    return;
  }
  const L = INGEST_LIMITS;
  const totalCap = await extractionCap(deps, zipPath);
  const spans = new EntrySpans();
  let entries = 0;
  let total = 0;
  let usable = 0;
  let stopped = false;
  const before = report.accepted.length + report.rejected.length;
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: Entry) => {
        void (async () => {
          const name = entryName(entry);
          const shown = `${zipName}/${displayName(name)}`;
          const skip = (reason: string): void => {
            report.rejected.push({ file: shown, reason });
          };
          if (name.endsWith('/') || isJunkEntry(name)) return;
          entries += 1;
          if (entries > L.maxZipEntries) {
            report.rejected.push({
              file: shown,
              reason: `the archive has more than ${L.maxZipEntries} files; this and later entries were not read`,
            });
            stopped = true;
            return;
          }
          const unsafe = unsafeEntryName(name);
          if (unsafe) return skip(unsafe);
          if (entry.isEncrypted()) return skip('entry is encrypted');
          if (entry.uncompressedSize > L.maxZipEntryBytes)
            return skip(
              `entry expands to ${entry.uncompressedSize} bytes, more than the ${L.maxZipEntryBytes} byte limit`,
            );
          if (
            entry.uncompressedSize > 1024 * 1024 &&
            entry.uncompressedSize / Math.max(1, entry.compressedSize) > L.maxZipExpansionRatio
          ) {
            return skip(
              `entry compression ratio ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}:1 exceeds ${L.maxZipExpansionRatio}:1 (possible zip bomb)`,
            );
          }
          if (!spans.add(entry))
            return skip('entry shares its compressed data with another entry (overlapping entries: a zip bomb trick)');
          if (total + entry.uncompressedSize > totalCap.bytes)
            return skip(
              `the archive expands to more than ${totalCap.bytes} bytes (${totalCap.why}); this entry was not read`,
            );
          total += entry.uncompressedSize;
          usable += 1;
          const temp = await deps.storage.staging.newFile();
          try {
            await checkFreeDisk(deps, entry.uncompressedSize);
            const stream = await openEntryStream(zip, entry);
            let seen = 0;
            const guard = new Transform({
              transform(chunk: Buffer, _enc, cb) {
                seen += chunk.length;
                cb(seen > entry.uncompressedSize ? new Error('entry is larger than its declared size') : null, chunk);
              },
            });
            await pipeline(stream, guard, createWriteStream(temp));
          } catch (e) {
            await deps.storage.staging.remove(temp);
            const code = (e as NodeJS.ErrnoException).code;
            const msg =
              e instanceof InstanceRejectedError
                ? e.message
                : code === 'ENOSPC' || code === 'EDQUOT'
                  ? "the server's disk is full; this entry was not kept, please send it again later"
                  : `entry could not be extracted (${(e as Error).message})`;
            return skip(msg);
          }
          await ingestFile(deps, temp, shown, origin, report, 1);
        })().then(() => (stopped ? resolve() : zip.readEntry()), reject);
      });
      zip.readEntry();
    });
  } catch (e) {
    report.rejected.push({ file: zipName, reason: `corrupt zip archive (${(e as Error).message})` });
  } finally {
    zip.close();
  }
  if (usable === 0 && report.accepted.length + report.rejected.length === before) {
    report.rejected.push({ file: zipName, reason: 'the archive holds no files' });
  }
}

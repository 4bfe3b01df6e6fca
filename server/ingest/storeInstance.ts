import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Config } from '../config/config.ts';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import { readInstanceHeader, type InstanceHeader } from '../dicom/readHeader.ts';
import { isVolumeImageSopClass } from '../dicom/sopClasses.ts';
import type { IndexedBefore, InstanceEntry } from '../dicomIndex/indexInstances.ts';
import { isInstanceIndexed } from '../dicomIndex/instanceFiles.ts';
import type { Queryable } from '../db/database.ts';
import type { Events } from '../events.ts';
import type { Logger } from '../log.ts';
import { instanceKey } from '../storage/layout.ts';
import type { Storage } from '../storage/storage.ts';
import { checkFreeDisk, rejectBeforeStore } from './admission.ts';
import type { IndexCommits } from './indexCommits.ts';

export type IngestVia = 'stow' | 'upload' | 'dimse' | 'pacs';

export interface IngestOrigin {
  via: IngestVia;
  callingAet?: string;
  remoteAddress?: string;
}

export interface StoreOptions {
  /** STOW-RS `/studies/{study}`: every instance must belong to this study (else 0xA901, stored nothing). */
  expectedStudyInstanceUid?: string;
  /**
   * How long the index row may wait to share a transaction with others (group commit). For ways in that answer
   * once per request (STOW-RS); 0 (the default) for those that answer each instance (C-STORE).
   */
  indexLingerMs?: number;
  /**
   * Where an unexpected error (a bug, not a refusal) is reported before it becomes a 0x0110 for the sender. By
   * default it is logged with its stack; a way in that stores many instances per request (STOW-RS) collects them
   * and logs once per request.
   */
  onInternalError?: (e: unknown) => void;
}

export interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Its storage key. */
  path: string;
  sizeBytes: number;
  /** A copy with the same SOP Instance UID was already stored and has been replaced (OVERWRITE_INSTANCES). */
  replaced: boolean;
  /**
   * The SOP Instance UID was already stored and its first copy stays (the default): this copy had the `identical`
   * bytes, or `different` content, which was not kept.
   */
  alreadyStored?: 'identical' | 'different';
  /** Counts toward a series volume (starts a process job after the quiet period). */
  volumeImage: boolean;
}

export interface StoreDeps {
  config: Pick<Config, 'minFreeDiskMb' | 'overwriteInstances'>;
  db: Queryable;
  logger: Logger;
  events: Events;
  storage: Storage;
  indexCommits: IndexCommits;
}

/**
 * A received instance: a file the caller wrote in the storage's staging area. By default storeInstance reads its
 * header from the file, zeroes the preamble and fsyncs it. A caller that streamed the bytes itself (STOW-RS,
 * C-STORE) passes `prepare` instead: it parses the header from the head it kept in memory, runs `check` on it and
 * the file's size (so a rejected instance costs no fsync), zeroes the preamble in what it writes and fsyncs through
 * its own handle. `whileSyncing` is called as soon as the fsync has been handed to the thread pool: the index row
 * may be written then (IndexCommits.early), while the disk works, and not before, where it would hold back the fsync.
 */
export type HeaderCheck = (header: InstanceHeader, sizeBytes: number) => void;

export interface InstanceSource {
  file: string;
  prepare?: (check: HeaderCheck, whileSyncing?: () => void) => Promise<{ header: InstanceHeader; sizeBytes: number }>;
}

/**
 * The one path every way in (STOW-RS, the upload form, the DIMSE SCP, PACS retrieves) stores an instance through.
 * `source.file` is a staged file; this function takes ownership of it: it is placed on success and deleted on
 * failure. When the promise resolves the file and its index row are durable (file and directory fsynced, row
 * committed), so the sender may be told "stored". Concurrent calls share directory fsyncs and index commits; each
 * still resolves only after its own file, directory entry and row are durable. Failures are InstanceRejectedError
 * with a DICOM failure reason and a message safe to show the sender.
 */
export async function storeInstance(
  deps: StoreDeps,
  source: InstanceSource,
  origin: IngestOrigin,
  options: StoreOptions = {},
): Promise<StoredInstance> {
  const { logger, storage, indexCommits } = deps;
  const lingerMs = options.indexLingerMs ?? 0;
  const leave = indexCommits.enter();
  const placement = placementSignal();
  let entry: InstanceEntry | undefined;
  let early: Promise<IndexedBefore> | undefined;
  const accept = (header: InstanceHeader, sizeBytes: number): void => {
    rejectBeforeStore(header, options.expectedStudyInstanceUid);
    entry = indexEntry(header, sizeBytes, origin);
  };
  const whileSyncing = (): void => {
    if (entry) early = indexCommits.early(entry, lingerMs, placement.placed, leave);
  };
  try {
    if (source.prepare) {
      // The bytes are already on disk, so the free space left is what the check compares.
      await checkFreeDisk(deps, 0);
      await source.prepare(accept, whileSyncing);
    } else {
      const size = (await stat(source.file)).size;
      await checkFreeDisk(deps, size);
      accept(await readInstanceHeader(source.file), size);
      await zeroPreambleAndSync(source.file, whileSyncing);
    }
    if (!entry) throw new Error('the instance source did not check the header');
    const { header, path } = entry;
    if (!deps.config.overwriteInstances && (await storage.has(path))) {
      // A row written early is rolled back first, so the index answers for the copy already there.
      if (early) {
        placement.failed(new Error('already stored'));
        await early.catch(noop);
        early = undefined;
      }
      // The first copy stays (as Orthanc without OverwriteInstances). A file without an index row is what a store
      // cut short left: this copy takes its place below.
      if (await isInstanceIndexed(deps.db, header.sopInstanceUid)) {
        leave();
        return await discardCopy(storage, logger, entry, source.file, origin);
      }
    }
    await storage.place(source.file, path);
    placement.done();

    let before: IndexedBefore;
    try {
      before = await (early ?? indexCommits.submit(entry, lingerMs, leave));
    } catch (e) {
      logger.error({ err: e, sopInstanceUid: header.sopInstanceUid }, 'indexing a stored instance failed');
      throw new InstanceRejectedError(
        FailureReason.ProcessingFailure,
        'the instance could not be recorded in the database; please send it again',
        { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid },
        { cause: e },
      );
    }
    const { previousPath, keptPrevious } = before;
    if (keptPrevious) {
      // Stored earlier under another series or study, which stays: this copy was not indexed.
      await storage.remove(path);
      return storedInstance(entry, false, 'different');
    }
    // The same SOP Instance UID earlier arrived under another series: its old copy is superseded.
    if (previousPath !== null && previousPath !== path) await storage.remove(previousPath);
    logger.debug(
      { sopInstanceUid: header.sopInstanceUid, seriesInstanceUid: header.seriesInstanceUid, via: origin.via },
      'instance stored',
    );
    deps.events.emit({ type: 'ingest', files: 1, seriesInstanceUid: header.seriesInstanceUid });
    return storedInstance(entry, previousPath !== null);
  } catch (e) {
    leave();
    // A row written early is rolled back: its file never reached its place.
    placement.failed(e);
    await early?.catch(noop);
    // After placing, the staged name no longer exists and this does nothing: the stored copy stays.
    await storage.staging.remove(source.file);
    throw asRejection(e, options.onInternalError ?? ((err) => logger.error({ err }, 'storing an instance failed')));
  }
}

/** A copy of an instance already stored: compared with the stored one, then removed from staging. */
async function discardCopy(
  storage: Storage,
  logger: Logger,
  entry: InstanceEntry,
  staged: string,
  origin: IngestOrigin,
): Promise<StoredInstance> {
  const identical = await sameBytes(storage, entry.path, staged);
  await storage.staging.remove(staged);
  logger.debug({ sopInstanceUid: entry.header.sopInstanceUid, via: origin.via, identical }, 'instance already stored');
  return storedInstance(entry, false, identical ? 'identical' : 'different');
}

function storedInstance(
  entry: InstanceEntry,
  replaced: boolean,
  alreadyStored?: StoredInstance['alreadyStored'],
): StoredInstance {
  const { header } = entry;
  return {
    studyInstanceUid: header.studyInstanceUid,
    seriesInstanceUid: header.seriesInstanceUid,
    sopInstanceUid: header.sopInstanceUid,
    sopClassUid: header.sopClassUid,
    transferSyntaxUid: header.transferSyntaxUid,
    path: entry.path,
    sizeBytes: entry.sizeBytes,
    replaced,
    volumeImage: entry.volumeImage,
    ...(alreadyStored ? { alreadyStored } : {}),
  };
}

/** Whether a staged file holds the same bytes as the stored object (preambles are stored as zeros either way). */
async function sameBytes(storage: Storage, key: string, staged: string): Promise<boolean> {
  const [stored, fresh] = await Promise.all([storage.stat(key), stat(staged)]);
  if (!stored || stored.size !== fresh.size) return false;
  const digest = async (stream: NodeJS.ReadableStream): Promise<string> => {
    const hash = createHash('sha256');
    for await (const chunk of stream) hash.update(chunk as Buffer);
    return hash.digest('hex');
  };
  const [a, b] = await Promise.all([digest(storage.createReadStream(key)), digest(createReadStream(staged))]);
  return a === b;
}

function asRejection(e: unknown, report: (e: unknown) => void): InstanceRejectedError {
  if (e instanceof InstanceRejectedError) return e;
  const code = (e as { code?: unknown }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new InstanceRejectedError(
      FailureReason.OutOfResources,
      'out of disk space while storing the instance',
      {},
      { cause: e },
    );
  }
  report(e);
  return new InstanceRejectedError(
    FailureReason.ProcessingFailure,
    'internal error while storing the instance',
    {},
    { cause: e },
  );
}

/** PS3.10 §7.5: the preamble can carry executable content (CVE-2019-11687); we never keep it. */
async function zeroPreambleAndSync(file: string, whileSyncing: () => void): Promise<number> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(Buffer.alloc(128), 0, 128, 0);
    const synced = fh.sync();
    whileSyncing();
    await synced;
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

function indexEntry(header: InstanceHeader, sizeBytes: number, origin: IngestOrigin): InstanceEntry {
  return {
    header,
    path: instanceKey(header.studyInstanceUid, header.seriesInstanceUid, header.sopInstanceUid),
    sizeBytes,
    volumeImage: isVolumeImageSopClass(header.sopClassUid) && header.hasPixelData,
    receivedVia: origin.via,
    ...(origin.callingAet === undefined ? {} : { callingAet: origin.callingAet }),
    ...(origin.remoteAddress === undefined ? {} : { remoteAddress: origin.remoteAddress }),
  };
}

/** Tells an early index transaction (IndexCommits.early) whether its file reached its place. */
function placementSignal(): { placed: Promise<void>; done(): void; failed(e: unknown): void } {
  let done!: () => void;
  let failed!: (e: unknown) => void;
  const placed = new Promise<void>((resolve, reject) => {
    done = resolve;
    failed = reject;
  });
  placed.catch(noop); // awaited only by an early transaction, if there is one
  return { placed, done, failed };
}

function noop(): void {}

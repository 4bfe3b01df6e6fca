import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { AppDeps } from '../http/deps.ts';
import type { Queryable, SqlValue } from '../db/database.ts';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import { readInstanceHeader, type InstanceHeader } from '../dicom/readHeader.ts';
import { MEDIA_STORAGE_DIRECTORY, isVolumeImageSopClass } from '../dicom/sopClasses.ts';
import { SUPPORTED_TRANSFER_SYNTAXES, transferSyntaxLabel } from '../dicom/transferSyntaxes.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { checkFreeDisk } from './disk.ts';
import { fsyncDir, removeTemp } from './tempFiles.ts';
import { scheduleSeriesStable, SeriesStablePushes } from './seriesStable.ts';
import type { Database } from '../db/database.ts';

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
   * How long the index row may wait to share a transaction with others (group commit). For ways in that
   * answer once per request (STOW-RS); 0 (the default) for those that answer each instance (C-STORE).
   */
  indexLingerMs?: number;
  /** Without linger, how long the row may wait for other stores under way (IndexBatcher); SIBLING_WAIT_MS by default. */
  siblingWaitMs?: number;
  /** How long after stores last overlapped this one is not written early (IndexBatcher.early); OVERLAP_MEMORY_MS by default. */
  overlapMemoryMs?: number;
}

export interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Relative to DATA_DIR. */
  path: string;
  sizeBytes: number;
  /** A copy with the same SOP Instance UID was already stored and has been replaced. */
  replaced: boolean;
  /** Counts toward a series volume (starts a process job after the quiet period). */
  volumeImage: boolean;
}

export type StoreDeps = Pick<AppDeps, 'config' | 'db' | 'queue' | 'logger' | 'events'>;

/** DATA_DIR-relative path of a stored instance; only validated UIDs reach here. */
export function instanceRelativePath(studyUid: string, seriesUid: string, sopUid: string): string {
  for (const uid of [studyUid, seriesUid, sopUid]) {
    if (!isUsableUid(uid)) throw new Error('refusing to build a storage path from an invalid UID');
  }
  return ['dicom', studyUid, seriesUid, `${sopUid}.dcm`].join('/');
}

export function absoluteDataPath(dataDir: string, rel: string): string {
  const abs = join(dataDir, ...rel.split('/'));
  if (!abs.startsWith(dataDir + sep)) throw new Error('path escapes DATA_DIR');
  return abs;
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

/**
 * Directories this process knows to be durable down from DATA_DIR (each entry: the promise of making it so).
 * A series directory is made durable once (mkdir -p, then fsync of every ancestor up to DATA_DIR, whether
 * this call or a concurrent one created it), so later instances of the series only rename and fsync the
 * series directory. Rename-first would be unsafe alone: the directory may exist while its creator is still
 * fsyncing the parents, so everyone waits on the same promise.
 */
const durableDirs = new Map<string, Promise<void>>();
const MAX_KNOWN_DIRS = 10_000;

function durableDir(root: string, dir: string): Promise<void> {
  let ready = durableDirs.get(dir);
  if (!ready) {
    if (durableDirs.size >= MAX_KNOWN_DIRS) durableDirs.clear(); // forgetting only costs a re-check
    ready = (async () => {
      await mkdir(dir, { recursive: true });
      const parents: string[] = [];
      for (let d = dirname(dir); d.length >= root.length; d = dirname(d)) {
        parents.push(d);
        if (d === root) break;
      }
      await Promise.all(parents.map((p) => syncDirBatched(p)));
    })();
    durableDirs.set(dir, ready);
    ready.catch(() => durableDirs.delete(dir));
  }
  return ready;
}

/** Moves the durable temp file into its directory; retention may have removed a known directory meanwhile. */
async function placeFile(root: string, file: string, dest: string): Promise<void> {
  const dir = dirname(dest);
  await durableDir(root, dir);
  try {
    await rename(file, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    durableDirs.delete(dir);
    await durableDir(root, dir);
    await rename(file, dest);
  }
  await syncDirBatched(dir);
}

interface DirSync {
  running: Promise<void>;
  /** The next fsync, shared by everyone who asked while `running` was already under way. */
  queued?: Promise<void>;
}
const dirSyncs = new Map<string, DirSync>();

/**
 * fsync of a directory shared by concurrent callers (group commit for directory entries): a caller is
 * covered by an fsync that starts after its rename, so callers arriving while one runs share the next one.
 * Parts of one request land in one series directory, so at N instances in flight this is about one
 * directory fsync per batch instead of one per instance.
 */
export function syncDirBatched(dir: string): Promise<void> {
  const state = dirSyncs.get(dir);
  if (!state) {
    const s: DirSync = { running: fsyncDir(dir) };
    dirSyncs.set(dir, s);
    const settle = (): void => {
      if (dirSyncs.get(dir) === s && s.queued === undefined) dirSyncs.delete(dir);
    };
    s.running.then(settle, settle);
    return s.running;
  }
  if (!state.queued) {
    state.queued = state.running.then(noop, noop).then(() => {
      state.queued = undefined;
      state.running = fsyncDir(dir);
      const settle = (): void => {
        if (dirSyncs.get(dir) === state && state.queued === undefined) dirSyncs.delete(dir);
      };
      state.running.then(settle, settle);
      return state.running;
    });
  }
  return state.queued;
}

function noop(): void {}

function rejectBeforeStore(header: InstanceHeader, options: StoreOptions): void {
  const uids = { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid };
  if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
    throw new InstanceRejectedError(
      FailureReason.SopClassNotSupported,
      'DICOMDIR (Media Storage Directory) is an index of a file set, not an instance; send the files it lists',
      uids,
    );
  }
  if (options.expectedStudyInstanceUid !== undefined && header.studyInstanceUid !== options.expectedStudyInstanceUid) {
    throw new InstanceRejectedError(
      FailureReason.StudyInstanceUidMismatch,
      `Study Instance UID ${header.studyInstanceUid} does not match the study in the request URL (${options.expectedStudyInstanceUid})`,
      uids,
    );
  }
  if (
    isVolumeImageSopClass(header.sopClassUid) &&
    header.hasPixelData &&
    !SUPPORTED_TRANSFER_SYNTAXES.has(header.transferSyntaxUid)
  ) {
    throw new InstanceRejectedError(
      FailureReason.TransferSyntaxNotSupported,
      `transfer syntax ${transferSyntaxLabel(header.transferSyntaxUid)} is not supported for images; send it uncompressed, JPEG, JPEG-LS, JPEG 2000 or RLE`,
      uids,
    );
  }
}

/**
 * A received instance: a temp file the caller wrote under DATA_DIR/tmp. By default storeInstance reads its
 * header from the file, zeroes the preamble and fsyncs it. A caller that streamed the bytes itself (STOW-RS)
 * passes `prepare` instead: it parses the header from the head it kept in memory, runs `check` on it and the
 * file's size (so a rejected instance costs no fsync), zeroes the preamble in what it writes and fsyncs
 * through its own handle. That saves an open, a 128 KB read, a 128-byte write, a stat and a close per
 * instance, on the 4-thread libuv pool that the fsyncs also occupy. `whileSyncing` is called as soon as the
 * fsync has been handed to the thread pool: storeInstance may start writing the index row then
 * (IndexBatcher.early), on this thread while the disk works, and not before, where it would hold back the fsync.
 */
export type HeaderCheck = (header: InstanceHeader, sizeBytes: number) => void;

export interface InstanceSource {
  file: string;
  prepare?: (check: HeaderCheck, whileSyncing?: () => void) => Promise<{ header: InstanceHeader; sizeBytes: number }>;
}

/**
 * The one path every way in (STOW-RS, the upload form, the DIMSE SCP) stores an instance through.
 * `source.file` is a temp file the caller wrote under DATA_DIR/tmp; this function takes ownership of it:
 * it is moved into place on success and deleted on failure. When the promise resolves the file and its
 * index row are durable (file and directory fsynced, row committed), so the sender may be told "stored".
 * Concurrent calls share directory fsyncs and index transactions (group commit); each still resolves only
 * after its own file, directory entry and row are durable.
 * Failures are InstanceRejectedError with a DICOM failure reason and a message safe to show the sender.
 */
export async function storeInstance(
  deps: StoreDeps,
  source: InstanceSource,
  origin: IngestOrigin,
  options: StoreOptions = {},
): Promise<StoredInstance> {
  const { config, logger } = deps;
  const batcher = indexBatcher(deps);
  const leave = batcher.enter();
  const placement = placementSignal();
  let item: IndexItem | undefined;
  let early: Promise<string | null> | undefined;
  const accept = (header: InstanceHeader, sizeBytes: number): void => {
    rejectBeforeStore(header, options);
    item = indexItem(header, sizeBytes, origin);
  };
  const whileSyncing = (): void => {
    if (item) early = batcher.early(item, options, placement.placed, leave);
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
    if (!item) throw new Error('the instance source did not check the header');
    const { header, rel } = item;
    await placeFile(config.dataDir, source.file, absoluteDataPath(config.dataDir, rel));
    placement.done();

    let previousPath: string | null = null;
    try {
      previousPath = await (early ?? batcher.submit(item, options, leave));
    } catch (e) {
      logger.error({ err: e, sopInstanceUid: header.sopInstanceUid }, 'indexing a stored instance failed');
      throw new InstanceRejectedError(
        FailureReason.ProcessingFailure,
        'the instance could not be recorded in the database; please send it again',
        {
          sopClassUid: header.sopClassUid,
          sopInstanceUid: header.sopInstanceUid,
        },
        { cause: e },
      );
    }
    // The same SOP Instance UID earlier arrived under another series: its old copy is superseded.
    if (previousPath !== null && previousPath !== rel) {
      await rm(absoluteDataPath(config.dataDir, previousPath), { force: true });
    }
    logger.debug(
      { sopInstanceUid: header.sopInstanceUid, seriesInstanceUid: header.seriesInstanceUid, via: origin.via },
      'instance stored',
    );
    deps.events.emit({ type: 'ingest', files: 1, seriesInstanceUid: header.seriesInstanceUid });
    return {
      studyInstanceUid: header.studyInstanceUid,
      seriesInstanceUid: header.seriesInstanceUid,
      sopInstanceUid: header.sopInstanceUid,
      sopClassUid: header.sopClassUid,
      transferSyntaxUid: header.transferSyntaxUid,
      path: rel,
      sizeBytes: item.sizeBytes,
      replaced: previousPath !== null,
      volumeImage: item.volumeImage,
    };
  } catch (e) {
    leave();
    // A row written early is rolled back: its file never reached its place.
    placement.failed(e);
    await early?.catch(noop);
    // After the rename the temp name no longer exists and this does nothing: the stored copy stays.
    await removeTemp(source.file);
    if (e instanceof InstanceRejectedError) throw e;
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new InstanceRejectedError(
        FailureReason.OutOfResources,
        'out of disk space while storing the instance',
        {},
        { cause: e },
      );
    }
    logger.error({ err: e }, 'storing an instance failed');
    throw new InstanceRejectedError(
      FailureReason.ProcessingFailure,
      'internal error while storing the instance',
      {},
      { cause: e },
    );
  }
}

const STUDY_COLUMNS = [
  'study_uid',
  'patient_name',
  'patient_id',
  'patient_birth_date',
  'patient_sex',
  'study_date',
  'study_time',
  'accession_number',
  'referring_physician_name',
  'study_id',
  'study_description',
  'timezone_offset',
  'specific_character_set',
] as const;
const SERIES_COLUMNS = [
  'series_uid',
  'study_uid',
  'modality',
  'series_number',
  'series_description',
  'series_date',
  'series_time',
  'body_part_examined',
  'manufacturer',
  'manufacturer_model_name',
  'performed_procedure_step_start_date',
] as const;
const INSTANCE_COLUMNS = [
  'sop_instance_uid',
  'series_uid',
  'study_uid',
  'sop_class_uid',
  'transfer_syntax_uid',
  'instance_number',
  'rows',
  'columns',
  'bits_allocated',
  'number_of_frames',
  'image_type',
  'has_pixel_data',
  'volume_image',
  'path',
  'size_bytes',
  'received_via',
  'calling_aet',
  'remote_address',
] as const;

function studyValues(h: InstanceHeader): SqlValue[] {
  return [
    h.studyInstanceUid,
    h.patientName ?? null,
    h.patientId ?? null,
    h.patientBirthDate ?? null,
    h.patientSex ?? null,
    h.studyDate ?? null,
    h.studyTime ?? null,
    h.accessionNumber ?? null,
    h.referringPhysicianName ?? null,
    h.studyId ?? null,
    h.studyDescription ?? null,
    h.timezoneOffsetFromUtc ?? null,
    h.specificCharacterSet ?? null,
  ];
}

function seriesValues(h: InstanceHeader): SqlValue[] {
  return [
    h.seriesInstanceUid,
    h.studyInstanceUid,
    h.modality ?? null,
    h.seriesNumber ?? null,
    h.seriesDescription ?? null,
    h.seriesDate ?? null,
    h.seriesTime ?? null,
    h.bodyPartExamined ?? null,
    h.manufacturer ?? null,
    h.manufacturerModelName ?? null,
    h.performedProcedureStepStartDate ?? null,
  ];
}

function instanceValues(it: IndexItem): SqlValue[] {
  const h = it.header;
  return [
    h.sopInstanceUid,
    h.seriesInstanceUid,
    h.studyInstanceUid,
    h.sopClassUid,
    h.transferSyntaxUid,
    h.instanceNumber ?? null,
    h.rows ?? null,
    h.columns ?? null,
    h.bitsAllocated ?? null,
    h.numberOfFrames ?? null,
    h.imageType,
    h.hasPixelData,
    it.volumeImage,
    it.rel,
    it.sizeBytes,
    it.origin.via,
    it.origin.callingAet ?? null,
    it.origin.remoteAddress ?? null,
  ];
}

/**
 * One row per key, in key order (a stable lock order), each column the last non-null value in batch order:
 * the same result as upserting the instances one by one with COALESCE(new, old).
 */
function mergeRows(rows: SqlValue[][]): SqlValue[][] {
  const byKey = new Map<string, SqlValue[]>();
  for (const r of rows) {
    const key = r[0] as string;
    const m = byKey.get(key);
    if (!m) byKey.set(key, [...r]);
    else
      r.forEach((v, i) => {
        if (v !== null) m[i] = v;
      });
  }
  return [...byKey.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map((e) => e[1]);
}

/** Rows as JSON objects keyed by column name, as dicom_index_instances reads them (jsonb_populate_recordset). */
function asJson(columns: readonly string[], rows: SqlValue[][]): string {
  return JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))));
}

/**
 * Indexes a batch of distinct SOP instances with one call of dicom_index_instances (migration 0006, which
 * says what it writes and in which order), whatever the batch size: each statement is a round trip into
 * PGlite's WebAssembly on the event loop that also receives the data, and a C-STORE sender waits for every
 * instance. On its own the call also commits without a BEGIN/COMMIT pair (IndexBatcher). Returns for each
 * instance its previously stored path, if any.
 */
async function indexInstances(q: Queryable, items: IndexItem[]): Promise<Array<string | null>> {
  // Study/series attributes: the newest instance's non-empty values win (COALESCE keeps older ones otherwise).
  const studies = asJson(STUDY_COLUMNS, mergeRows(items.map((it) => studyValues(it.header))));
  const series = asJson(SERIES_COLUMNS, mergeRows(items.map((it) => seriesValues(it.header))));
  const instances = asJson(
    INSTANCE_COLUMNS,
    items.map(instanceValues).sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
  );
  const res = await q.query<{ sop_uid: string; previous_path: string }>(
    'SELECT sop_uid, previous_path FROM dicom_index_instances($1::jsonb, $2::jsonb, $3::jsonb)',
    [studies, series, instances],
  );
  const old = new Map(res.rows.map((r) => [r.sop_uid, r.previous_path]));
  return items.map((it) => old.get(it.header.sopInstanceUid) ?? null);
}

/** For tests and tools: the DATA_DIR-relative path of a stored instance, resolved safely. */
export function storedInstanceFile(dataDir: string, rel: string): string {
  const abs = absoluteDataPath(dataDir, rel);
  if (relative(dataDir, abs).startsWith('..')) throw new Error('path escapes DATA_DIR');
  return abs;
}

interface IndexItem {
  header: InstanceHeader;
  rel: string;
  sizeBytes: number;
  volumeImage: boolean;
  origin: IngestOrigin;
}

function indexItem(header: InstanceHeader, sizeBytes: number, origin: IngestOrigin): IndexItem {
  const volumeImage = isVolumeImageSopClass(header.sopClassUid) && header.hasPixelData;
  const rel = instanceRelativePath(header.studyInstanceUid, header.seriesInstanceUid, header.sopInstanceUid);
  return { header, rel, sizeBytes, volumeImage, origin };
}

/** Tells an early index transaction (IndexBatcher.early) whether its file reached its place. */
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

/** A batch this big is committed at once, lingering or not. */
const FULL_BATCH = 32;
const MAX_BATCH = 256;
/**
 * How long an item without linger may wait for stores already under way (IndexBatcher.enter) to reach the
 * index: about one instance's fsync, rename and directory fsync, the stage those stores are in.
 */
export const SIBLING_WAIT_MS = 3;

/**
 * How long after two stores last overlapped a lone store still counts as one of several (IndexBatcher.early).
 * Several associations overlap every few milliseconds.
 */
const OVERLAP_MEMORY_MS = 100;

interface PendingIndex {
  item: IndexItem;
  /** performance.now() after which the item must not wait for company any longer. */
  due: number;
  /** Due as soon as no store is under way any more (an item without linger that found some). */
  untilSiblings: boolean;
  resolve: (prev: string | null) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the index: instances stored concurrently (parallel STOW parts and requests, DIMSE
 * associations) share one commit, so a commit (and its WAL flush) is paid per batch rather than per
 * instance. Each caller still resolves only after the commit holding its row. If a batch fails, its items
 * are retried one commit each so one bad row cannot fail the others.
 *
 * Items may linger (StoreOptions.indexLingerMs) for company: the parts of one STOW-RS request reach the
 * index one after another, a few ms apart, so without waiting every transaction held one instance and cost
 * about 3 ms of PGlite CPU on the event loop that also receives the request (half of the time per instance).
 *
 * An item without linger (a C-STORE, whose sender waits for each answer) is written early (`early`) when it is
 * the only store under way, so one association never waits for company. When other stores are under way (other
 * associations, uploads, STOW-RS parts between receipt and index) it waits for them, at most
 * SIBLING_WAIT_MS, as PostgreSQL's commit_delay waits only when commit_siblings other transactions are
 * active. Four associations otherwise committed one instance per PGlite call (1.0-1.06 a batch measured);
 * with this 3.5-3.9, and the receiver's CPU per instance fell from about 5.4 to 3.7 ms.
 */
class IndexBatcher {
  readonly #deps: StoreDeps;
  readonly #pushes: SeriesStablePushes;
  #pending: PendingIndex[] = [];
  #flushing = false;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  /** storeInstance calls that have begun and not yet submitted their row (or failed). */
  #underWay = 0;
  /** performance.now() when a store last began while another was under way, queued or committing. */
  #lastOverlapAt = -Infinity;

  constructor(deps: StoreDeps) {
    this.#deps = deps;
    this.#pushes = new SeriesStablePushes(deps.config.seriesStableSeconds);
  }

  /**
   * Counts a store as under way until the returned `leave` is called (only the first call counts). submit
   * calls it without rescheduling, before queueing the item, so the item neither waits for its own store
   * nor misses the flush that its leaving makes due.
   */
  enter(): (reschedule?: boolean) => void {
    if (this.#underWay > 0 || this.#flushing || this.#pending.length > 0) this.#lastOverlapAt = performance.now();
    this.#underWay++;
    let left = false;
    return (reschedule = true) => {
      if (left) return;
      left = true;
      this.#underWay--;
      if (reschedule && this.#underWay === 0) this.#schedule();
    };
  }

  submit(
    item: IndexItem,
    options: Pick<StoreOptions, 'indexLingerMs' | 'siblingWaitMs'> = {},
    leave?: (reschedule?: boolean) => void,
  ): Promise<string | null> {
    leave?.(false);
    const { indexLingerMs = 0, siblingWaitMs = SIBLING_WAIT_MS } = options;
    return new Promise((resolve, reject) => {
      const untilSiblings = indexLingerMs === 0 && this.#underWay > 0;
      this.#pending.push({
        item,
        due: performance.now() + (untilSiblings ? siblingWaitMs : indexLingerMs),
        untilSiblings,
        resolve,
        reject,
      });
      this.#schedule();
    });
  }

  /**
   * Writes the row of a store that is alone (no other store under way, nothing queued or committing) while
   * its file is still being fsynced and moved into place: one transaction that commits only once `placed`
   * resolves, and rolls back if it rejects, so a row never becomes durable before its file. With one C-STORE
   * association, the sender otherwise waited for the fsyncs and then for the index call in turn.
   *
   * Only while stores have not overlapped for OVERLAP_MEMORY_MS: with several associations one of them
   * is often alone for a moment, and its transaction, held open over its fsyncs, then kept the others' rows
   * out of the shared commit (four associations: 12-18% fewer instances/s, measured). Returns undefined when
   * the store is not alone (or lingers for company): it submits after placement instead.
   */
  early(
    item: IndexItem,
    options: Pick<StoreOptions, 'indexLingerMs' | 'overlapMemoryMs'>,
    placed: Promise<void>,
    leave: (reschedule?: boolean) => void,
  ): Promise<string | null> | undefined {
    const { indexLingerMs = 0, overlapMemoryMs = OVERLAP_MEMORY_MS } = options;
    if (indexLingerMs > 0 || this.#underWay !== 1 || this.#flushing || this.#pending.length > 0) return undefined;
    if (performance.now() - this.#lastOverlapAt < overlapMemoryMs) return undefined;
    leave(false);
    this.#flushing = true;
    const written = this.#commit([item], placed).then(([prev]) => prev);
    const next = (): void => {
      this.#flushing = false;
      this.#schedule();
    };
    written.then(next, next);
    return written;
  }

  /** Starts a flush now if a batch is due, else arms the timer for the earliest deadline. */
  #schedule(): void {
    if (this.#flushing || this.#pending.length === 0) return;
    const now = performance.now();
    let due = Infinity;
    for (const p of this.#pending) due = Math.min(due, p.untilSiblings && this.#underWay === 0 ? now : p.due);
    if (this.#pending.length >= FULL_BATCH || due <= now) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerDue = Infinity;
      void this.#flush();
      return;
    }
    if (this.#timer && this.#timerDue <= due) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerDue = Infinity;
        this.#schedule();
      },
      Math.ceil(due - now),
    );
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      const batch = this.#pending.splice(0, MAX_BATCH);
      try {
        const prevs = await this.#commit(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(prevs[i]));
      } catch (batchError) {
        if (batch.length === 1) {
          batch[0].reject(batchError);
        } else {
          for (const b of batch) {
            try {
              const [prev] = await this.#commit([b.item]);
              b.resolve(prev);
            } catch (e) {
              b.reject(e);
            }
          }
        }
      }
    } finally {
      this.#flushing = false;
      this.#schedule();
    }
  }

  /**
   * Writes the rows, and pushes the quiet-period timers that are due in the same transaction. Most batches
   * have no timer due (SeriesStablePushes) and no instance twice: their one statement commits on its own.
   * With `placed` (early), the transaction waits for it before committing.
   */
  async #commit(items: IndexItem[], placed?: Promise<void>): Promise<Array<string | null>> {
    const at = performance.now();
    const series = new Set<string>();
    for (const it of items) if (it.volumeImage) series.add(it.header.seriesInstanceUid);
    const due = this.#pushes.due(series, at);
    const rounds = distinctRounds(items);
    let prevs: Array<string | null>;
    if (placed === undefined && rounds.length === 1 && due.length === 0) {
      prevs = await indexInstances(this.#deps.db, items);
    } else {
      prevs = await this.#deps.db.transaction(async (tx) => {
        const written: Array<string | null> = new Array<string | null>(items.length).fill(null);
        for (const round of rounds) {
          const roundPrevs = await indexInstances(
            tx,
            round.map((i) => items[i]),
          );
          round.forEach((i, k) => {
            written[i] = roundPrevs[k];
          });
        }
        for (const uid of due.sort()) await scheduleSeriesStable(this.#deps, uid, tx, undefined, this.#pushes.slackMs);
        await placed;
        return written;
      });
    }
    this.#pushes.pushed(due, at);
    return prevs;
  }
}

/**
 * The batch's indexes split into rounds of distinct SOP Instance UIDs. One statement must not touch a row
 * twice, so the same instance twice in a batch (sent twice at once) goes in a later round, which then sees
 * the earlier copy as the previous one, as one by one would.
 */
function distinctRounds(items: IndexItem[]): number[][] {
  const rounds: number[][] = [];
  const roundOf = new Map<string, number>();
  items.forEach((it, i) => {
    const uid = it.header.sopInstanceUid;
    const r = (roundOf.get(uid) ?? -1) + 1;
    roundOf.set(uid, r);
    (rounds[r] ??= []).push(i);
  });
  return rounds;
}

const batchers = new WeakMap<Database, IndexBatcher>();

function indexBatcher(deps: StoreDeps): IndexBatcher {
  let b = batchers.get(deps.db);
  if (!b) {
    b = new IndexBatcher(deps);
    batchers.set(deps.db, b);
  }
  return b;
}

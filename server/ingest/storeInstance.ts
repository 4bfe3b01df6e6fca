import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { AppDeps } from '../http/deps.ts';
import type { Queryable } from '../db/database.ts';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import { readInstanceHeader, type InstanceHeader } from '../dicom/readHeader.ts';
import { MEDIA_STORAGE_DIRECTORY, isVolumeImageSopClass } from '../dicom/sopClasses.ts';
import { SUPPORTED_TRANSFER_SYNTAXES, transferSyntaxLabel } from '../dicom/transferSyntaxes.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { checkFreeDisk } from './disk.ts';
import { fsyncDir, removeTemp } from './tempFiles.ts';
import { scheduleSeriesStable } from './seriesStable.ts';
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
async function zeroPreambleAndSync(file: string): Promise<number> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(Buffer.alloc(128), 0, 128, 0);
    await fh.sync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/** mkdir -p that fsyncs each parent whose entry list changed, so the new directories survive a crash. */
async function ensureDurableDir(root: string, dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  let d = dir;
  const toSync: string[] = [];
  while (d.length >= first.length && d !== root) {
    toSync.push(dirname(d));
    d = dirname(d);
  }
  for (const p of toSync) await fsyncDir(p);
}

function rejectBeforeStore(header: InstanceHeader, options: StoreOptions): void {
  const uids = { sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid };
  if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
    throw new InstanceRejectedError(FailureReason.SopClassNotSupported, 'DICOMDIR (Media Storage Directory) is an index of a file set, not an instance; send the files it lists', uids);
  }
  if (options.expectedStudyInstanceUid !== undefined && header.studyInstanceUid !== options.expectedStudyInstanceUid) {
    throw new InstanceRejectedError(
      FailureReason.StudyInstanceUidMismatch,
      `Study Instance UID ${header.studyInstanceUid} does not match the study in the request URL (${options.expectedStudyInstanceUid})`,
      uids,
    );
  }
  if (isVolumeImageSopClass(header.sopClassUid) && header.hasPixelData && !SUPPORTED_TRANSFER_SYNTAXES.has(header.transferSyntaxUid)) {
    throw new InstanceRejectedError(
      FailureReason.TransferSyntaxNotSupported,
      `transfer syntax ${transferSyntaxLabel(header.transferSyntaxUid)} is not supported for images; send it uncompressed, JPEG, JPEG-LS, JPEG 2000 or RLE`,
      uids,
    );
  }
}

/**
 * The one path every way in (STOW-RS, the upload form, the DIMSE SCP) stores an instance through.
 * `source.file` is a temp file the caller wrote under DATA_DIR/tmp; this function takes ownership of it:
 * it is moved into place on success and deleted on failure. When the promise resolves the file and its
 * index row are durable (file and directory fsynced, row committed), so the sender may be told "stored".
 * Failures are InstanceRejectedError with a DICOM failure reason and a message safe to show the sender.
 */
export async function storeInstance(
  deps: StoreDeps,
  source: { file: string },
  origin: IngestOrigin,
  options: StoreOptions = {},
): Promise<StoredInstance> {
  const { config, logger } = deps;
  let moved = false;
  try {
    const size = (await stat(source.file)).size;
    await checkFreeDisk(deps, size);
    const header = await readInstanceHeader(source.file);
    rejectBeforeStore(header, options);

    const volumeImage = isVolumeImageSopClass(header.sopClassUid) && header.hasPixelData;
    const rel = instanceRelativePath(header.studyInstanceUid, header.seriesInstanceUid, header.sopInstanceUid);
    const dest = absoluteDataPath(config.dataDir, rel);
    const sizeBytes = await zeroPreambleAndSync(source.file);
    await ensureDurableDir(config.dataDir, dirname(dest));
    await rename(source.file, dest);
    moved = true;
    await fsyncDir(dirname(dest));

    let previousPath: string | null = null;
    try {
      previousPath = await indexBatcher(deps).submit({ header, rel, sizeBytes, volumeImage, origin });
    } catch (e) {
      logger.error({ err: e, sopInstanceUid: header.sopInstanceUid }, 'indexing a stored instance failed');
      throw new InstanceRejectedError(FailureReason.ProcessingFailure, 'the instance could not be recorded in the database; please send it again', {
        sopClassUid: header.sopClassUid,
        sopInstanceUid: header.sopInstanceUid,
      }, { cause: e });
    }
    // The same SOP Instance UID earlier arrived under another series: its old copy is superseded.
    if (previousPath !== null && previousPath !== rel) {
      await rm(absoluteDataPath(config.dataDir, previousPath), { force: true });
    }
    logger.debug({ sopInstanceUid: header.sopInstanceUid, seriesInstanceUid: header.seriesInstanceUid, via: origin.via }, 'instance stored');
    deps.events.emit({ type: 'ingest', files: 1, seriesInstanceUid: header.seriesInstanceUid });
    return {
      studyInstanceUid: header.studyInstanceUid,
      seriesInstanceUid: header.seriesInstanceUid,
      sopInstanceUid: header.sopInstanceUid,
      sopClassUid: header.sopClassUid,
      transferSyntaxUid: header.transferSyntaxUid,
      path: rel,
      sizeBytes,
      replaced: previousPath !== null,
      volumeImage,
    };
  } catch (e) {
    if (!moved) await removeTemp(source.file);
    if (e instanceof InstanceRejectedError) throw e;
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new InstanceRejectedError(FailureReason.OutOfResources, 'out of disk space while storing the instance', {}, { cause: e });
    }
    logger.error({ err: e }, 'storing an instance failed');
    throw new InstanceRejectedError(FailureReason.ProcessingFailure, 'internal error while storing the instance', {}, { cause: e });
  }
}

/** Upserts study, series and instance rows; returns the previously stored path of this SOP instance, if any. */
async function indexInstance(
  tx: Queryable,
  h: InstanceHeader,
  f: { rel: string; sizeBytes: number; volumeImage: boolean; origin: IngestOrigin },
): Promise<string | null> {
  // Study/series attributes: the newest instance's non-empty values win (COALESCE keeps older ones otherwise).
  await tx.query(
    `INSERT INTO dicom_studies (study_uid, patient_name, patient_id, patient_birth_date, patient_sex, study_date, study_time,
        accession_number, referring_physician_name, study_id, study_description, timezone_offset, specific_character_set)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (study_uid) DO UPDATE SET
        patient_name = COALESCE(EXCLUDED.patient_name, dicom_studies.patient_name),
        patient_id = COALESCE(EXCLUDED.patient_id, dicom_studies.patient_id),
        patient_birth_date = COALESCE(EXCLUDED.patient_birth_date, dicom_studies.patient_birth_date),
        patient_sex = COALESCE(EXCLUDED.patient_sex, dicom_studies.patient_sex),
        study_date = COALESCE(EXCLUDED.study_date, dicom_studies.study_date),
        study_time = COALESCE(EXCLUDED.study_time, dicom_studies.study_time),
        accession_number = COALESCE(EXCLUDED.accession_number, dicom_studies.accession_number),
        referring_physician_name = COALESCE(EXCLUDED.referring_physician_name, dicom_studies.referring_physician_name),
        study_id = COALESCE(EXCLUDED.study_id, dicom_studies.study_id),
        study_description = COALESCE(EXCLUDED.study_description, dicom_studies.study_description),
        timezone_offset = COALESCE(EXCLUDED.timezone_offset, dicom_studies.timezone_offset),
        specific_character_set = COALESCE(EXCLUDED.specific_character_set, dicom_studies.specific_character_set),
        updated_at = now()`,
    [h.studyInstanceUid, h.patientName ?? null, h.patientId ?? null, h.patientBirthDate ?? null, h.patientSex ?? null, h.studyDate ?? null,
      h.studyTime ?? null, h.accessionNumber ?? null, h.referringPhysicianName ?? null, h.studyId ?? null, h.studyDescription ?? null,
      h.timezoneOffsetFromUtc ?? null, h.specificCharacterSet ?? null],
  );
  await tx.query(
    `INSERT INTO dicom_series (series_uid, study_uid, modality, series_number, series_description, series_date, series_time,
        body_part_examined, manufacturer, manufacturer_model_name, performed_procedure_step_start_date, revision, last_instance_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, now())
     ON CONFLICT (series_uid) DO UPDATE SET
        modality = COALESCE(EXCLUDED.modality, dicom_series.modality),
        series_number = COALESCE(EXCLUDED.series_number, dicom_series.series_number),
        series_description = COALESCE(EXCLUDED.series_description, dicom_series.series_description),
        series_date = COALESCE(EXCLUDED.series_date, dicom_series.series_date),
        series_time = COALESCE(EXCLUDED.series_time, dicom_series.series_time),
        body_part_examined = COALESCE(EXCLUDED.body_part_examined, dicom_series.body_part_examined),
        manufacturer = COALESCE(EXCLUDED.manufacturer, dicom_series.manufacturer),
        manufacturer_model_name = COALESCE(EXCLUDED.manufacturer_model_name, dicom_series.manufacturer_model_name),
        performed_procedure_step_start_date = COALESCE(EXCLUDED.performed_procedure_step_start_date, dicom_series.performed_procedure_step_start_date),
        revision = dicom_series.revision + 1,
        last_instance_at = now()`,
    [h.seriesInstanceUid, h.studyInstanceUid, h.modality ?? null, h.seriesNumber ?? null, h.seriesDescription ?? null, h.seriesDate ?? null,
      h.seriesTime ?? null, h.bodyPartExamined ?? null, h.manufacturer ?? null, h.manufacturerModelName ?? null,
      h.performedProcedureStepStartDate ?? null],
  );
  const prev = await tx.query<{ path: string; series_uid: string }>(
    'SELECT path, series_uid FROM dicom_instances WHERE sop_instance_uid = $1 FOR UPDATE',
    [h.sopInstanceUid],
  );
  const old = prev.rows[0];
  if (old && old.series_uid !== h.seriesInstanceUid) {
    // The series that lost an instance changed too; its next job must not list the moved file.
    await tx.query('UPDATE dicom_series SET revision = revision + 1 WHERE series_uid = $1', [old.series_uid]);
  }
  await tx.query(
    `INSERT INTO dicom_instances (sop_instance_uid, series_uid, study_uid, sop_class_uid, transfer_syntax_uid, instance_number, rows, columns,
        bits_allocated, number_of_frames, image_type, has_pixel_data, volume_image, path, size_bytes, received_via, calling_aet, remote_address)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT (sop_instance_uid) DO UPDATE SET
        series_uid = EXCLUDED.series_uid, study_uid = EXCLUDED.study_uid, sop_class_uid = EXCLUDED.sop_class_uid,
        transfer_syntax_uid = EXCLUDED.transfer_syntax_uid, instance_number = EXCLUDED.instance_number, rows = EXCLUDED.rows,
        columns = EXCLUDED.columns, bits_allocated = EXCLUDED.bits_allocated, number_of_frames = EXCLUDED.number_of_frames,
        image_type = EXCLUDED.image_type, has_pixel_data = EXCLUDED.has_pixel_data, volume_image = EXCLUDED.volume_image,
        path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, received_via = EXCLUDED.received_via,
        calling_aet = EXCLUDED.calling_aet, remote_address = EXCLUDED.remote_address, received_at = now()`,
    [h.sopInstanceUid, h.seriesInstanceUid, h.studyInstanceUid, h.sopClassUid, h.transferSyntaxUid, h.instanceNumber ?? null, h.rows ?? null,
      h.columns ?? null, h.bitsAllocated ?? null, h.numberOfFrames ?? null, h.imageType, h.hasPixelData, f.volumeImage, f.rel, f.sizeBytes,
      f.origin.via, f.origin.callingAet ?? null, f.origin.remoteAddress ?? null],
  );
  return old ? old.path : null;
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

/**
 * Group commit for the index: instances stored concurrently (parallel STOW parts and requests, DIMSE
 * associations) share one transaction, so a commit (and its WAL flush) is paid per batch rather than per
 * instance. Each caller still resolves only after the commit holding its row. If a batch fails, its items
 * are retried one transaction each so one bad row cannot fail the others.
 */
class IndexBatcher {
  readonly #deps: StoreDeps;
  #pending: Array<{ item: IndexItem; resolve: (prev: string | null) => void; reject: (e: unknown) => void }> = [];
  #flushing = false;

  constructor(deps: StoreDeps) {
    this.#deps = deps;
  }

  submit(item: IndexItem): Promise<string | null> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, 256);
        try {
          const prevs = await this.#deps.db.transaction(async (tx) => this.#write(tx, batch.map((b) => b.item)));
          batch.forEach((b, i) => b.resolve(prevs[i]));
        } catch (batchError) {
          if (batch.length === 1) {
            batch[0].reject(batchError);
            continue;
          }
          for (const b of batch) {
            try {
              const [prev] = await this.#deps.db.transaction(async (tx) => this.#write(tx, [b.item]));
              b.resolve(prev);
            } catch (e) {
              b.reject(e);
            }
          }
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #write(tx: Queryable, items: IndexItem[]): Promise<Array<string | null>> {
    const prevs: Array<string | null> = [];
    const series = new Set<string>();
    for (const it of items) {
      prevs.push(await indexInstance(tx, it.header, it));
      if (it.volumeImage) series.add(it.header.seriesInstanceUid);
    }
    for (const uid of series) await scheduleSeriesStable(this.#deps, uid, tx);
    return prevs;
  }
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

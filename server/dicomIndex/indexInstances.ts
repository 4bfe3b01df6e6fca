import type { Queryable, SqlValue } from '../db/database.ts';
import type { InstanceHeader } from '../dicom/readHeader.ts';

/** One stored instance as the index records it. */
export interface InstanceEntry {
  header: InstanceHeader;
  /** Its storage key (server/storage/layout.ts). */
  path: string;
  sizeBytes: number;
  /** Counts toward a series volume. */
  volumeImage: boolean;
  receivedVia: string;
  callingAet?: string;
  remoteAddress?: string;
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

function instanceValues(e: InstanceEntry): SqlValue[] {
  const h = e.header;
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
    e.volumeImage,
    e.path,
    e.sizeBytes,
    e.receivedVia,
    e.callingAet ?? null,
    e.remoteAddress ?? null,
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

/** What the index had for an instance before: its stored path, and whether that first copy stays. */
export interface IndexedBefore {
  previousPath: string | null;
  /** The instance was stored under another key and stays there (overwriting off): this copy was not indexed. */
  keptPrevious: boolean;
}

/**
 * Indexes a batch of distinct SOP instances with one call of dicom_index_instances (migration 0007; it and
 * 0006, whose version it replaced, say what it writes and in which order), whatever the batch size: each
 * statement is a round trip into PGlite on the event loop that also receives the data. Outside a transaction
 * the call commits on its own.
 * Without `overwrite`, an instance already stored under another key keeps its first copy.
 */
export async function indexInstances(
  q: Queryable,
  entries: InstanceEntry[],
  overwrite: boolean,
): Promise<IndexedBefore[]> {
  // Study/series attributes: the newest instance's non-empty values win (COALESCE keeps older ones otherwise).
  const studies = asJson(STUDY_COLUMNS, mergeRows(entries.map((e) => studyValues(e.header))));
  const series = asJson(SERIES_COLUMNS, mergeRows(entries.map((e) => seriesValues(e.header))));
  const instances = asJson(
    INSTANCE_COLUMNS,
    entries.map(instanceValues).sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
  );
  const res = await q.query<{ sop_uid: string; previous_path: string; kept_previous: boolean }>(
    'SELECT sop_uid, previous_path, kept_previous FROM dicom_index_instances($1::jsonb, $2::jsonb, $3::jsonb, $4)',
    [studies, series, instances, overwrite],
  );
  const old = new Map(res.rows.map((r) => [r.sop_uid, r]));
  return entries.map((e) => {
    const r = old.get(e.header.sopInstanceUid);
    return { previousPath: r?.previous_path ?? null, keptPrevious: r?.kept_previous ?? false };
  });
}

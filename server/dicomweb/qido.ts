import type { SqlValue } from '../db/database.ts';
import type { Database } from '../db/database.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { num, pn, sorted, str, uid, type DicomJson } from './dicomJson.ts';
import { instanceUrl, seriesUrl, studyUrl } from './urls.ts';
import { extraAttributes, parseIncludeFields } from './qidoIncludeFields.ts';
import { resultSegResults } from './qidoResultSegs.ts';
import type { Storage } from '../storage/storage.ts';
import type { QidoLevel } from './qidoLevel.ts';

/**
 * QIDO-RS search (PS3.18 §10.6) over our own index. Matching follows §8.3.4: single value, UID lists,
 * `*`/`?` wildcards, date ranges; unknown parameters are ignored as the standard requires. Results are
 * the required return attributes of Tables 10.6.3-3/-4/-5 in `application/dicom+json`.
 */

export const QIDO_MAX_RESULTS = 1000;

type MatchKind = 'uid' | 'wildcard' | 'wildcard-ci' | 'date' | 'int' | 'modalities';
interface Matcher {
  column: string;
  kind: MatchKind;
  levels: QidoLevel[];
}

const ALL: QidoLevel[] = ['studies', 'series', 'instances'];
const SERIES_UP: QidoLevel[] = ['series', 'instances'];

/** Attribute keyword and tag -> the column it matches. */
const MATCHERS: Record<string, Matcher> = {
  StudyInstanceUID: { column: 'st.study_uid', kind: 'uid', levels: ALL },
  PatientID: { column: 'st.patient_id', kind: 'wildcard', levels: ALL },
  PatientName: { column: 'st.patient_name', kind: 'wildcard-ci', levels: ALL },
  StudyDate: { column: 'st.study_date', kind: 'date', levels: ALL },
  AccessionNumber: { column: 'st.accession_number', kind: 'wildcard', levels: ALL },
  StudyID: { column: 'st.study_id', kind: 'wildcard', levels: ALL },
  ReferringPhysicianName: { column: 'st.referring_physician_name', kind: 'wildcard-ci', levels: ALL },
  StudyDescription: { column: 'st.study_description', kind: 'wildcard-ci', levels: ALL },
  ModalitiesInStudy: { column: 'st.study_uid', kind: 'modalities', levels: ALL },
  SeriesInstanceUID: { column: 'se.series_uid', kind: 'uid', levels: SERIES_UP },
  Modality: { column: 'se.modality', kind: 'wildcard', levels: SERIES_UP },
  SeriesNumber: { column: 'se.series_number', kind: 'int', levels: SERIES_UP },
  SeriesDescription: { column: 'se.series_description', kind: 'wildcard-ci', levels: SERIES_UP },
  PerformedProcedureStepStartDate: {
    column: 'se.performed_procedure_step_start_date',
    kind: 'date',
    levels: SERIES_UP,
  },
  SOPInstanceUID: { column: 'i.sop_instance_uid', kind: 'uid', levels: ['instances'] },
  SOPClassUID: { column: 'i.sop_class_uid', kind: 'uid', levels: ['instances'] },
  InstanceNumber: { column: 'i.instance_number', kind: 'int', levels: ['instances'] },
};
const TAGS: Record<string, string> = {
  '0020000D': 'StudyInstanceUID',
  '00100020': 'PatientID',
  '00100010': 'PatientName',
  '00080020': 'StudyDate',
  '00080050': 'AccessionNumber',
  '00200010': 'StudyID',
  '00080090': 'ReferringPhysicianName',
  '00081030': 'StudyDescription',
  '00080061': 'ModalitiesInStudy',
  '0020000E': 'SeriesInstanceUID',
  '00080060': 'Modality',
  '00200011': 'SeriesNumber',
  '0008103E': 'SeriesDescription',
  '00400244': 'PerformedProcedureStepStartDate',
  '00080018': 'SOPInstanceUID',
  '00080016': 'SOPClassUID',
  '00200013': 'InstanceNumber',
};

function likePattern(value: string): string {
  return value
    .replace(/[\\%_]/g, (c) => `\\${c}`)
    .replace(/\*/g, '%')
    .replace(/\?/g, '_');
}

/** An own entry of a lookup table: `__proto__`, `constructor` or `toString` are not attributes. */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * Unknown parameters are ignored (PS3.18 §8.3.4), but names of the object model (`__proto__`, `constructor`,
 * `toString`) are a probe, never a DICOM keyword: they are refused, so nothing downstream meets them.
 */
function reservedName(key: string): boolean {
  return key.startsWith('__') || key in Object.prototype;
}
/** Integer attributes (IS, US) and paging fit a 32-bit signed integer. */
const INT_MAX = 2 ** 31 - 1;

function intValue(key: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw httpError(400, `${key} must be a whole number`);
  const n = Number(value);
  if (Math.abs(n) > INT_MAX) throw httpError(400, `${key} must be between -${INT_MAX} and ${INT_MAX}`);
  return n;
}

function dateBound(value: string, param: string): string {
  if (!/^\d{8}$/.test(value))
    throw httpError(400, `${param}: "${value}" is not a date (YYYYMMDD) or range (YYYYMMDD-YYYYMMDD)`);
  return value;
}

export interface QidoQuery {
  where: string[];
  params: SqlValue[];
  limit: number;
  offset: number;
  /** Text for a Warning header when the limit was lowered. */
  warning?: string;
}

export function buildQidoQuery(
  level: QidoLevel,
  query: Record<string, string | string[] | undefined>,
  fixed: Record<string, string>,
): QidoQuery {
  const where: string[] = [];
  const params: SqlValue[] = [];
  const p = (v: SqlValue): string => {
    params.push(v);
    return `$${params.length}`;
  };
  const conditions: Array<[string, string]> = Object.entries(fixed);
  let limit = QIDO_MAX_RESULTS;
  let offset = 0;
  let warning: string | undefined;
  const warn = (text: string): void => {
    warning = warning ? `${warning}, ${text}` : text;
  };
  // Read as own entries into a map, whatever the prototype of the object given.
  const entries = new Map(Object.entries(query));
  for (const [rawKey, rawValue] of entries) {
    const value = Array.isArray(rawValue) ? rawValue.join(',') : rawValue;
    if (value === undefined) continue;
    const shown = rawKey.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
    if (reservedName(rawKey))
      throw httpError(
        400,
        `query parameter "${shown}" is not a DICOM attribute keyword or tag, nor a QIDO-RS parameter`,
      );
    // A NUL (or any control character) never matches a stored value and the database refuses it in text.
    if (/[\u0000-\u001f\u007f]/.test(value))
      throw httpError(400, `query parameter "${shown}" contains a control character`);
    if (rawKey === 'includefield') continue;
    if (rawKey === 'fuzzymatching') {
      if (value.toLowerCase() === 'true') {
        warn(
          '299 anatomy-gateway "The fuzzymatching parameter is not supported. Only literal matching has been performed."',
        );
      } else if (value.toLowerCase() !== 'false') throw httpError(400, 'fuzzymatching must be true or false');
      continue;
    }
    if (rawKey === 'limit' || rawKey === 'offset') {
      if (!/^\d+$/.test(value)) throw httpError(400, `${rawKey} must be a non-negative whole number`);
      const n = Number(value);
      if (rawKey === 'offset' && n > INT_MAX) throw httpError(400, `offset must be at most ${INT_MAX}`);
      if (rawKey === 'offset') offset = n;
      else if (n > QIDO_MAX_RESULTS) {
        limit = QIDO_MAX_RESULTS;
        warn(`299 anatomy-gateway "limit lowered to ${QIDO_MAX_RESULTS}; page with offset"`);
      } else limit = n;
      continue;
    }
    const key = own(MATCHERS, rawKey) ? rawKey : own(TAGS, rawKey.toUpperCase());
    if (key) conditions.push([key, value]);
  }
  for (const [key, value] of conditions) {
    const m = own(MATCHERS, key);
    if (!m || value === '' || value === '*') continue;
    // Checked at every level: a value the database could not take is the client's error wherever it is sent.
    if (m.kind === 'int') intValue(key, value);
    if (!m.levels.includes(level)) continue;
    switch (m.kind) {
      case 'uid': {
        const list = value
          .split(/[,\\]/)
          .map((s) => s.trim())
          .filter(Boolean);
        if (list.some((u) => !isUsableUid(u))) throw httpError(400, `${key}: not a UID or list of UIDs`);
        where.push(`${m.column} = ANY(${p(list)}::text[])`);
        break;
      }
      case 'wildcard':
        where.push(
          /[*?]/.test(value) ? `${m.column} LIKE ${p(likePattern(value))} ESCAPE '\\'` : `${m.column} = ${p(value)}`,
        );
        break;
      case 'wildcard-ci':
        // Person names match case-insensitively, with an implied trailing wildcard per component (fuzzy-lite).
        where.push(`${m.column} ILIKE ${p(likePattern(value))} ESCAPE '\\'`);
        break;
      case 'int': {
        where.push(`${m.column} = ${p(intValue(key, value))}`);
        break;
      }
      case 'date': {
        const dash = value.indexOf('-');
        if (dash < 0) where.push(`${m.column} = ${p(dateBound(value, key))}`);
        else {
          const from = value.slice(0, dash);
          const to = value.slice(dash + 1);
          if (from) where.push(`${m.column} >= ${p(dateBound(from, key))}`);
          if (to) where.push(`${m.column} <= ${p(dateBound(to, key))}`);
          if (!from && !to) throw httpError(400, `${key}: empty date range`);
        }
        break;
      }
      case 'modalities': {
        const list = value
          .split(/[,\\]/)
          .map((s) => s.trim())
          .filter(Boolean);
        where.push(
          `EXISTS (SELECT 1 FROM dicom_series ms WHERE ms.study_uid = st.study_uid AND ms.modality = ANY(${p(list)}::text[]))`,
        );
        break;
      }
    }
  }
  return { where, params, limit, offset, warning };
}

interface Row {
  study_uid: string;
  patient_name: string | null;
  patient_id: string | null;
  patient_birth_date: string | null;
  patient_sex: string | null;
  study_date: string | null;
  study_time: string | null;
  accession_number: string | null;
  referring_physician_name: string | null;
  study_id: string | null;
  study_description: string | null;
  timezone_offset: string | null;
  specific_character_set: string | null;
  n_study_series?: string;
  n_study_instances?: string;
  modalities?: string[] | null;
  /** SEGs of the study's results, listed in the study as one series of one instance each (qidoResultSegs.ts). */
  n_result_segs?: string;
  series_uid?: string;
  modality?: string | null;
  series_number?: number | null;
  series_description?: string | null;
  performed_procedure_step_start_date?: string | null;
  n_series_instances?: string;
  sop_instance_uid?: string;
  sop_class_uid?: string;
  instance_number?: number | null;
  rows?: number | null;
  columns?: number | null;
  bits_allocated?: number | null;
  number_of_frames?: number | null;
  /** An instance file of the result, for includefield. */
  sample_path?: string | null;
}

const STUDY_SAMPLE = `(SELECT x.path FROM dicom_instances x WHERE x.study_uid = st.study_uid ORDER BY x.series_uid, x.instance_number NULLS LAST LIMIT 1) AS sample_path`;
const SERIES_SAMPLE = `(SELECT x.path FROM dicom_instances x WHERE x.series_uid = se.series_uid ORDER BY x.instance_number NULLS LAST, x.sop_instance_uid LIMIT 1) AS sample_path`;
const STUDY_COLUMNS = `st.study_uid, st.patient_name, st.patient_id, st.patient_birth_date, st.patient_sex, st.study_date, st.study_time,
  st.accession_number, st.referring_physician_name, st.study_id, st.study_description, st.timezone_offset, st.specific_character_set,
  (SELECT count(*) FROM dicom_series x WHERE x.study_uid = st.study_uid) AS n_study_series,
  (SELECT count(*) FROM dicom_instances x WHERE x.study_uid = st.study_uid) AS n_study_instances,
  (SELECT array_agg(DISTINCT x.modality ORDER BY x.modality) FROM dicom_series x WHERE x.study_uid = st.study_uid AND x.modality IS NOT NULL) AS modalities,
  (SELECT count(*) FROM results r WHERE r.source->>'studyInstanceUid' = st.study_uid AND (r.expires_at IS NULL OR r.expires_at > now())
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.files) f WHERE f->>'name' LIKE '%\\_seg.dcm')) AS n_result_segs`;
const SERIES_COLUMNS = `se.series_uid, se.modality, se.series_number, se.series_description, se.performed_procedure_step_start_date,
  (SELECT count(*) FROM dicom_instances x WHERE x.series_uid = se.series_uid) AS n_series_instances`;
const INSTANCE_COLUMNS =
  'i.sop_instance_uid, i.sop_class_uid, i.instance_number, i.rows, i.columns, i.bits_allocated, i.number_of_frames';

function sqlFor(level: QidoLevel, q: QidoQuery): { sql: string; params: SqlValue[] } {
  const where = q.where.length > 0 ? `WHERE ${q.where.join(' AND ')}` : '';
  const params = [...q.params, q.limit, q.offset];
  const lim = `LIMIT $${params.length - 1} OFFSET $${params.length}`;
  switch (level) {
    case 'studies':
      return {
        sql: `SELECT ${STUDY_COLUMNS}, ${STUDY_SAMPLE} FROM dicom_studies st ${where} ORDER BY st.study_date DESC NULLS LAST, st.study_uid ${lim}`,
        params,
      };
    case 'series':
      return {
        sql: `SELECT ${STUDY_COLUMNS}, ${SERIES_COLUMNS}, ${SERIES_SAMPLE} FROM dicom_series se JOIN dicom_studies st ON st.study_uid = se.study_uid ${where}
              ORDER BY st.study_uid, se.series_number NULLS LAST, se.series_uid ${lim}`,
        params,
      };
    case 'instances':
      return {
        sql: `SELECT ${STUDY_COLUMNS}, ${SERIES_COLUMNS}, ${INSTANCE_COLUMNS}, i.path AS sample_path FROM dicom_instances i
              JOIN dicom_series se ON se.series_uid = i.series_uid JOIN dicom_studies st ON st.study_uid = i.study_uid ${where}
              ORDER BY se.series_uid, i.instance_number NULLS LAST, i.sop_instance_uid ${lim}`,
        params,
      };
  }
}

function studyAttributes(r: Row, base: string): DicomJson {
  const segs = Number(r.n_result_segs ?? 0);
  const modalities = [...new Set([...(r.modalities ?? []), ...(segs > 0 ? ['SEG'] : [])])].sort();
  return {
    '00080020': str('DA', r.study_date),
    '00080030': str('TM', r.study_time),
    '00080050': str('SH', r.accession_number),
    '00080056': str('CS', 'ONLINE'),
    '00080061': { vr: 'CS', ...(modalities.length > 0 ? { Value: modalities } : {}) },
    '00080090': pn(r.referring_physician_name),
    '00081030': str('LO', r.study_description),
    '00081190': str('UR', studyUrl(base, r.study_uid)),
    '00080201': str('SH', r.timezone_offset),
    '00100010': pn(r.patient_name),
    '00100020': str('LO', r.patient_id),
    '00100030': str('DA', r.patient_birth_date),
    '00100040': str('CS', r.patient_sex),
    '0020000D': uid(r.study_uid),
    '00200010': str('SH', r.study_id),
    '00201206': num('IS', Number(r.n_study_series ?? 0) + segs),
    '00201208': num('IS', Number(r.n_study_instances ?? 0) + segs),
  };
}

function toJson(level: QidoLevel, r: Row, base: string): DicomJson {
  const out = studyAttributes(r, base);
  if (level === 'series' || level === 'instances') {
    const series = r.series_uid as string;
    Object.assign(out, {
      '00080060': str('CS', r.modality),
      '0008103E': str('LO', r.series_description),
      '0020000E': uid(series),
      '00200011': num('IS', r.series_number),
      '00201209': num('IS', Number(r.n_series_instances ?? 0)),
      '00400244': str('DA', r.performed_procedure_step_start_date),
    });
    out['00081190'] = str('UR', seriesUrl(base, r.study_uid, series));
    if (level === 'instances') {
      Object.assign(out, {
        '00080016': uid(r.sop_class_uid),
        '00080018': uid(r.sop_instance_uid),
        '00200013': num('IS', r.instance_number),
        '00280008': num('IS', r.number_of_frames),
        '00280010': num('US', r.rows),
        '00280011': num('US', r.columns),
        '00280100': num('US', r.bits_allocated),
      });
      out['00081190'] = str('UR', instanceUrl(base, r.study_uid, series, r.sop_instance_uid as string));
    }
  }
  return sorted(out);
}

export async function qidoSearch(
  deps: { db: Database; storage: Storage },
  level: QidoLevel,
  query: Record<string, string | string[] | undefined>,
  fixed: Record<string, string>,
  base: string,
): Promise<{ results: DicomJson[]; warning?: string }> {
  const q = buildQidoQuery(level, query, fixed);
  const { sql, params } = sqlFor(level, q);
  const include = parseIncludeFields(query.includefield);
  const rows = await deps.db.query<Row>(sql, params);
  const results: DicomJson[] = [];
  for (const r of rows.rows) {
    const json = toJson(level, r, base);
    const path = r.sample_path ? deps.storage.localPath(r.sample_path) : null;
    // A file that went away since the row was read leaves the result as the index has it.
    const extra = await extraAttributes(level, include, path, json).catch(() => ({}));
    results.push(Object.keys(extra).length > 0 ? sorted({ ...json, ...(extra as DicomJson) }) : json);
  }
  // A study's series and instances also list the SEGs made from it (on the first page).
  if (q.offset === 0 && results.length < q.limit) {
    const segs = await resultSegResults(deps, level, fixed, base);
    const seen = new Set(
      results.map((r) => JSON.stringify(r['0020000E']?.Value) + JSON.stringify(r['00080018']?.Value)),
    );
    for (const seg of segs) {
      if (!seen.has(JSON.stringify(seg['0020000E']?.Value) + JSON.stringify(seg['00080018']?.Value))) results.push(seg);
    }
  }
  return { results, warning: q.warning };
}

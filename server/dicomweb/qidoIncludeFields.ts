import { httpError } from '../errors.ts';
import { readInstanceDataset, type DicomDict } from './instanceDataset.ts';
import { toDicomJson } from './metadata.ts';
import type { QidoLevel } from './qidoLevel.ts';

/**
 * QIDO-RS `includefield` (PS3.18 §8.3.4.3): attributes beyond the index's, taken from an instance we
 * hold (the result's own instance, or the first of its series or study). `all` gives every attribute
 * that belongs to the level: the patient and study ones at study level, everything but what differs
 * from image to image at series level, the whole data set at instance level. Bulk values are left out
 * (they are retrieved, not searched). Series results always carry Performed Procedure Step Start Time
 * and Request Attributes Sequence when the instance has them (Table 10.6.3-4).
 */

export interface IncludeFields {
  all: boolean;
  tags: Set<string>;
}

/** Keyword -> tag for the attributes viewers ask for by name; other keywords are answered with 400. */
const KEYWORDS: Record<string, string> = {
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  BodyPartExamined: '00180015',
  SeriesDate: '00080021',
  SeriesTime: '00080031',
  Manufacturer: '00080070',
  InstitutionName: '00080080',
  ProtocolName: '00181030',
  PerformedProcedureStepStartDate: '00400244',
  PerformedProcedureStepStartTime: '00400245',
  RequestAttributesSequence: '00400275',
  PatientAge: '00101010',
  PatientSex: '00100040',
  PatientBirthDate: '00100030',
  ReferringPhysicianName: '00080090',
  NumberOfFrames: '00280008',
  ImageType: '00080008',
  ContentDate: '00080023',
  ContentTime: '00080033',
  AcquisitionDate: '00080022',
  SliceThickness: '00180050',
  ImageOrientationPatient: '00200037',
  FrameOfReferenceUID: '00200052',
};

export function parseIncludeFields(raw: string | string[] | undefined): IncludeFields | undefined {
  if (raw === undefined) return undefined;
  const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(',')).map((v) => v.trim());
  const out: IncludeFields = { all: false, tags: new Set() };
  for (const v of values) {
    if (v === '') continue;
    if (v.toLowerCase() === 'all') out.all = true;
    else if (/^[0-9A-Fa-f]{8}$/.test(v)) out.tags.add(v.toUpperCase());
    else if (KEYWORDS[v]) out.tags.add(KEYWORDS[v]);
    else throw httpError(400, `includefield: "${v}" is not a tag (8 hex digits), a known keyword or "all"`);
  }
  return out;
}

const STUDY_LEVEL = new Set([
  '00080020',
  '00080030',
  '00080050',
  '00080051',
  '00080080',
  '00080081',
  '00080090',
  '00080201',
  '00081030',
  '00081032',
  '00081048',
  '00081060',
  '00081080',
  '00200010',
  '0020000D',
  '00321032',
  '00321060',
  '00380010',
]);
/** Attributes that differ from image to image, left out of series results for `all`. */
const PER_INSTANCE = new Set([
  '00080012',
  '00080013',
  '00080018',
  '00080022',
  '00080023',
  '00080032',
  '00080033',
  '0008002A',
  '00180050',
  '00200012',
  '00200013',
  '00200032',
  '00201041',
  '00281050',
  '00281051',
  '00281055',
  '00280106',
  '00280107',
  '00280008',
]);
const SERIES_ALWAYS = ['00400245', '00400275'];

function belongs(level: QidoLevel, tag: string): boolean {
  if (level === 'instances') return true;
  if (level === 'studies') return tag.startsWith('0010') || STUDY_LEVEL.has(tag);
  return !PER_INSTANCE.has(tag) && !tag.startsWith('7FE0') && !tag.startsWith('6') && !tag.startsWith('5');
}

/** The extra attributes for one result, from the instance file at `path`. */
export async function extraAttributes(
  level: QidoLevel,
  include: IncludeFields | undefined,
  path: string | null,
  present: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const wanted = new Set(include?.tags ?? []);
  if (level === 'series') for (const t of SERIES_ALWAYS) wanted.add(t);
  if (!path || (!include?.all && wanted.size === 0)) return {};
  const ds = await readInstanceDataset(path);
  const pick: DicomDict = {};
  for (const [tag, el] of Object.entries(ds.dict)) {
    if (tag in present) continue;
    if (wanted.has(tag) || (include?.all && belongs(level, tag))) pick[tag] = el;
  }
  const json = toDicomJson(pick, '');
  for (const [tag, v] of Object.entries(json)) if ((v as { BulkDataURI?: string }).BulkDataURI) delete json[tag];
  return json;
}

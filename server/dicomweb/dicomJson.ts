/**
 * Building DICOM JSON Model objects (PS3.18 Annex F): keys are 8-hex tags, values arrays, empty
 * attributes keep their `vr` with no `Value` (type 2 semantics).
 */
export type DicomJsonValue = { vr: string; Value?: unknown[] };
export type DicomJson = Record<string, DicomJsonValue>;

export function str(vr: string, value: string | null | undefined): DicomJsonValue {
  return value === null || value === undefined || value === '' ? { vr } : { vr, Value: value.split('\\') };
}

export function uid(value: string | null | undefined): DicomJsonValue {
  return value ? { vr: 'UI', Value: [value] } : { vr: 'UI' };
}

export function num(vr: 'IS' | 'US' | 'UL' | 'SL', value: number | null | undefined): DicomJsonValue {
  return value === null || value === undefined ? { vr } : { vr, Value: [value] };
}

export function pn(value: string | null | undefined): DicomJsonValue {
  return value ? { vr: 'PN', Value: [{ Alphabetic: value }] } : { vr: 'PN' };
}

export function seq(items: DicomJson[]): DicomJsonValue {
  return { vr: 'SQ', Value: items };
}

/** Keys in ascending order, as Annex F asks. */
export function sorted(obj: DicomJson): DicomJson {
  const out: DicomJson = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out;
}

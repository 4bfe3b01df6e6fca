import type { DicomDict, DictElement } from './instanceDataset.ts';

/**
 * A data set as the DICOM JSON model (PS3.18 Annex F) for WADO-RS metadata (§10.4.1.1.2): values as
 * dcmjs decoded them (character sets applied, numbers as numbers, person names as component groups),
 * binary values up to INLINE_LIMIT bytes as InlineBinary and larger ones, and always Pixel Data, as a
 * BulkDataURI under the instance (`.../bulk/<tag>[/<item>/<tag>...]`, served by bulk.ts).
 */

export const INLINE_LIMIT = 1024;
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const PIXEL_DATA = '7FE00010';

function toBase64(value: unknown): string | undefined {
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString('base64');
  if (ArrayBuffer.isView(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  return undefined;
}

function byteLength(values: unknown[]): number {
  let n = 0;
  for (const v of values) {
    if (v instanceof ArrayBuffer) n += v.byteLength;
    else if (ArrayBuffer.isView(v)) n += v.byteLength;
  }
  return n;
}

function element(el: DictElement, bulkBase: string): Record<string, unknown> {
  const vr = el.vr;
  if (vr === 'SQ') {
    const items = (el.Value ?? []) as DicomDict[];
    return items.length === 0 ? { vr } : { vr, Value: items.map((item, i) => toDicomJson(item, `${bulkBase}/${i}`)) };
  }
  if (BINARY_VRS.has(vr)) {
    const values = el.Value ?? [];
    if (values.length === 0 || byteLength(values) === 0) return { vr };
    if (byteLength(values) > INLINE_LIMIT) return { vr, BulkDataURI: bulkBase };
    const b64 = Buffer.concat(values.map((v) => Buffer.from(toBase64(v) ?? '', 'base64'))).toString('base64');
    return { vr, InlineBinary: b64 };
  }
  const values = (el.Value ?? []).filter((v) => v !== undefined);
  if (values.length === 0 || (values.length === 1 && (values[0] === '' || values[0] === null))) return { vr };
  if (vr === 'PN') {
    return {
      vr,
      Value: values.map((v) => (typeof v === 'string' ? (v === '' ? null : { Alphabetic: v }) : v)),
    };
  }
  if (vr === 'AT')
    return {
      vr,
      Value: values.map((v) => (typeof v === 'number' ? v.toString(16).toUpperCase().padStart(8, '0') : v)),
    };
  return { vr, Value: values.map((v) => (v === '' ? null : v)) };
}

/**
 * `dict` as DICOM JSON; `bulkRoot` is `<instance URL>/bulk`. Keys are sorted as Annex F asks; group
 * lengths and the file meta group are not part of a data set's metadata.
 */
export function toDicomJson(dict: DicomDict, bulkRoot: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const tag of Object.keys(dict).sort()) {
    if (tag.startsWith('0002') || tag.endsWith('0000')) continue;
    out[tag] = element(dict[tag], `${bulkRoot}/${tag}`);
  }
  return out;
}

/** Metadata of one instance: its attributes, Pixel Data as a BulkDataURI when it has some. */
export function instanceMetadata(
  dict: DicomDict,
  instanceUrl: string,
  hasPixelData: boolean,
  meta: DicomDict,
): Record<string, unknown> {
  const json = toDicomJson(dict, `${instanceUrl}/bulk`);
  if (hasPixelData) {
    const bitsAllocated = dict['00280100']?.Value?.[0];
    json[PIXEL_DATA] = {
      vr: bitsAllocated === 8 || bitsAllocated === 1 ? 'OB' : 'OW',
      BulkDataURI: `${instanceUrl}/bulk/${PIXEL_DATA}`,
    };
  }
  // The stored transfer syntax, as Orthanc and other origin servers give it: viewers use it to choose decoders.
  const ts = meta['00020010']?.Value?.[0];
  if (typeof ts === 'string') json['00020010'] = { vr: 'UI', Value: [ts] };
  const ordered: Record<string, unknown> = {};
  for (const k of Object.keys(json).sort()) ordered[k] = json[k];
  return ordered;
}

import { createHash } from 'node:crypto';
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';

/**
 * Anonymised folders with blanked UIDs (TotalSegmentator's example series has every UID empty): for browser
 * uploads only, the blank Study, Series and SOP Instance UIDs are filled with 2.25 UIDs (PS3.5 B.2) derived from
 * the file's content, so the same folder always gives the same UIDs. STOW-RS and C-STORE senders keep getting
 * their refusal: a PACS must send its own UIDs.
 *
 * - SOP Instance UID: from the whole file's bytes.
 * - Series Instance UID: from what the slices of one series share, their geometry included (orientation, rows,
 *   columns, pixel spacing, frame of reference), with the series' and study's own attributes; so a folder whose
 *   images differ in geometry becomes one series per geometry, and the files of one series need not arrive together.
 * - Study Instance UID: from the patient and study attributes and the frame of reference.
 */

const SOP_INSTANCE = 'x00080018';
const SOP_CLASS = 'x00080016';
const STUDY = 'x0020000d';
const SERIES = 'x0020000e';
const MEDIA_SOP_INSTANCE = 'x00020003';
const MEDIA_SOP_CLASS = 'x00020002';
const TRANSFER_SYNTAX = 'x00020010';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const DEFLATED = '1.2.840.10008.1.2.1.99';
const IMPLICIT_LE = '1.2.840.10008.1.2';

const STUDY_KEY = [
  'x00100010', // Patient Name
  'x00100020', // Patient ID
  'x00100030', // Patient Birth Date
  'x00080020', // Study Date
  'x00080030', // Study Time
  'x00080050', // Accession Number
  'x00200010', // Study ID
  'x00081030', // Study Description
  'x00200052', // Frame of Reference UID
];
const SERIES_KEY = [
  ...STUDY_KEY,
  'x00080060', // Modality
  'x00080021', // Series Date
  'x00080031', // Series Time
  'x0008103e', // Series Description
  'x00200011', // Series Number
  'x00180050', // Slice Thickness
  'x00280010', // Rows
  'x00280011', // Columns
  'x00280030', // Pixel Spacing
  'x00200037', // Image Orientation (Patient)
];

/** A 2.25 UID from a digest: its first 128 bits as one decimal integer (at most 44 characters). */
export function uidFromDigest(digest: Buffer): string {
  return `2.25.${BigInt(`0x${digest.subarray(0, 16).toString('hex')}`).toString(10)}`;
}

function value(ds: DataSet, tag: string): string {
  const el = ds.elements[tag];
  if (!el || el.length <= 0) return '';
  if (tag === 'x00280010' || tag === 'x00280011') return String(ds.uint16(tag) ?? '');
  const raw = ds.string(tag) ?? '';
  // Orientation and spacing as written can differ in the last digits between slices of one series.
  if (tag === 'x00200037' || tag === 'x00280030' || tag === 'x00180050') {
    return raw
      .split('\\')
      .map((v) => (Number.isFinite(Number(v)) ? Number(v).toFixed(4) : v.trim()))
      .join('\\');
  }
  return raw.replace(/[\0 ]+$/, '').trim();
}

function digestOf(ds: DataSet, tags: readonly string[], salt: string): Buffer {
  const h = createHash('sha256').update(salt);
  for (const tag of tags) h.update(`\u0000${tag}=${value(ds, tag)}`);
  return h.digest();
}

function blank(ds: DataSet, tag: string): boolean {
  return value(ds, tag) === '';
}

/** An element with a UI value (even length, NUL padded) in explicit or implicit VR little endian. */
function uiElement(tag: string, uid: string, explicit: boolean): Buffer {
  const text = uid.length % 2 === 0 ? uid : `${uid}\0`;
  const group = Number.parseInt(tag.slice(1, 5), 16);
  const element = Number.parseInt(tag.slice(5, 9), 16);
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  if (explicit) {
    head.write('UI', 4, 'latin1');
    head.writeUInt16LE(text.length, 6);
  } else {
    head.writeUInt32LE(text.length, 4);
  }
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}

export interface FilledUids {
  bytes: Buffer;
  /** Which UIDs were generated ("Study Instance UID", ...). */
  generated: string[];
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

/**
 * The file with its blank Study, Series and SOP Instance UIDs (and a blank SOP Class UID, from the file meta
 * information) filled in; undefined when none is blank or the file is not one this can rewrite (big endian,
 * deflated, unparsable): those keep the ordinary refusal.
 */
export function fillBlankUids(bytes: Buffer): FilledUids | undefined {
  let ds: DataSet;
  try {
    ds = dicomParser.parseDicom(bytes);
  } catch {
    return undefined;
  }
  const ts = value(ds, TRANSFER_SYNTAX);
  if (!ts || ts === BIG_ENDIAN || ts === DEFLATED) return undefined;
  const targets = [
    { tag: STUDY, name: 'Study Instance UID' },
    { tag: SERIES, name: 'Series Instance UID' },
    { tag: SOP_INSTANCE, name: 'SOP Instance UID' },
  ].filter((t) => blank(ds, t.tag));
  if (targets.length === 0) return undefined;

  const study = blank(ds, STUDY) ? uidFromDigest(digestOf(ds, STUDY_KEY, 'study')) : value(ds, STUDY);
  const series = blank(ds, SERIES)
    ? uidFromDigest(digestOf(ds, [...SERIES_KEY, STUDY], `series:${study}`))
    : value(ds, SERIES);
  const sop = blank(ds, SOP_INSTANCE)
    ? uidFromDigest(createHash('sha256').update('instance').update(bytes).digest())
    : value(ds, SOP_INSTANCE);
  const updates = new Map<string, string>([
    [STUDY, study],
    [SERIES, series],
    [SOP_INSTANCE, sop],
  ]);
  if (blank(ds, SOP_CLASS) && !blank(ds, MEDIA_SOP_CLASS)) updates.set(SOP_CLASS, value(ds, MEDIA_SOP_CLASS));
  for (const tag of [...updates.keys()]) if (!blank(ds, tag)) updates.delete(tag);
  updates.set(MEDIA_SOP_INSTANCE, sop);

  const explicit = ts !== IMPLICIT_LE;
  // Top-level elements in file order; meta elements are always explicit VR.
  const elements = Object.entries(ds.elements)
    .filter(([, el]) => typeof el.dataOffset === 'number')
    .sort((a, b) => a[1].dataOffset - b[1].dataOffset);
  const edits: Array<{ start: number; end: number; data: Buffer; group: number }> = [];
  for (const [tag, uid] of updates) {
    const isMeta = tag.startsWith('x0002');
    const data = uiElement(tag, uid, isMeta || explicit);
    const group = Number.parseInt(tag.slice(1, 5), 16);
    const el = ds.elements[tag];
    if (el) {
      if (el.hadUndefinedLength) return undefined;
      edits.push({ start: el.dataOffset - 8, end: el.dataOffset + el.length, data, group });
      continue;
    }
    // An absent element goes before the first element with a greater tag.
    const next = elements.find(([t]) => t > tag && t.startsWith('x0002') === isMeta);
    if (!next) return undefined;
    const headerLength = headerLengthOf(bytes, next[1].dataOffset, next[0], isMeta || explicit);
    edits.push({ start: next[1].dataOffset - headerLength, end: next[1].dataOffset - headerLength, data, group });
  }
  // Group lengths (0002,0000 always; retired ones elsewhere) grow with their group.
  const delta = new Map<number, number>();
  for (const e of edits) delta.set(e.group, (delta.get(e.group) ?? 0) + e.data.length - (e.end - e.start));
  const out = Buffer.from(applyEdits(bytes, edits));
  for (const [group, d] of delta) {
    const tag = `x${group.toString(16).padStart(4, '0')}0000`;
    const el = ds.elements[tag];
    if (!el || el.length !== 4 || d === 0) continue;
    // Group length elements come first in their group, before any edit of it: their offset is unchanged.
    const shift = edits
      .filter((e) => e.start < el.dataOffset)
      .reduce((s, e) => s + e.data.length - (e.end - e.start), 0);
    const at = el.dataOffset + shift;
    out.writeUInt32LE(out.readUInt32LE(at) + d, at);
  }
  return {
    bytes: out,
    generated: targets.map((t) => t.name),
    studyInstanceUid: study,
    seriesInstanceUid: series,
    sopInstanceUid: sop,
  };
}

/** The header length of the element whose value starts at `dataOffset`. */
function headerLengthOf(bytes: Buffer, dataOffset: number, _tag: string, explicit: boolean): number {
  if (!explicit) return 8;
  const vr = bytes.toString('latin1', dataOffset - 4, dataOffset - 2);
  // A 12-byte header has its VR at offset 4 and two reserved bytes before a 32-bit length.
  const long = bytes.toString('latin1', dataOffset - 8, dataOffset - 6);
  if (['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV'].includes(long)) return 12;
  return /^[A-Z]{2}$/.test(vr) ? 8 : 12;
}

function applyEdits(bytes: Buffer, edits: Array<{ start: number; end: number; data: Buffer }>): Buffer {
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  const parts: Buffer[] = [];
  let at = 0;
  for (const e of sorted) {
    parts.push(bytes.subarray(at, e.start), e.data);
    at = e.end;
  }
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts);
}

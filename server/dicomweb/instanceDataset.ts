import { open, stat } from 'node:fs/promises';
import dcmjs from 'dcmjs';

/**
 * The attributes of a stored instance up to its pixel data, as dcmjs's tag-keyed dictionary (already
 * the shape of the DICOM JSON model, with binary values as ArrayBuffers), read once per file version
 * and kept in a small cache: a viewer asks for a series' metadata, then its frames and thumbnails.
 */

export interface DictElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
  _rawValue?: unknown;
}
export type DicomDict = Record<string, DictElement>;

export interface InstanceDataset {
  meta: DicomDict;
  dict: DicomDict;
  /** Whether Pixel Data (or a float variant) follows the attributes read. */
  hasPixelData: boolean;
  size: number;
}

interface DcmjsMessage {
  readFile(
    buffer: ArrayBuffer,
    options?: { untilTag?: string; includeUntilTagValue?: boolean; ignoreErrors?: boolean },
  ): { meta: DicomDict; dict: DicomDict };
}
const message = (dcmjs as unknown as { data: { DicomMessage: DcmjsMessage } }).data.DicomMessage;
(dcmjs as unknown as { log?: { setLevel?: (l: string) => void } }).log?.setLevel?.('error');

/** Headers larger than this are rare (a big private block, an embedded overlay): the whole file is read then. */
const FIRST_READ = 1024 * 1024;
const CACHE_ENTRIES = 512;
const cache = new Map<string, InstanceDataset>();

const PIXEL_TAGS = ['7FE00010', '7FE00008', '7FE00009'];

function parse(buf: Buffer): { meta: DicomDict; dict: DicomDict } {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  return message.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
}

function reachedPixelData(dict: DicomDict): boolean {
  return PIXEL_TAGS.some((t) => t in dict);
}

export async function readInstanceDataset(path: string): Promise<InstanceDataset> {
  const info = await stat(path);
  const key = `${path}\0${info.size}\0${info.mtimeMs}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const fh = await open(path, 'r');
  let parsed: { meta: DicomDict; dict: DicomDict } | undefined;
  try {
    const length = Math.min(info.size, FIRST_READ);
    const head = Buffer.allocUnsafe(length);
    await fh.read(head, 0, length, 0);
    if (length < info.size) {
      // A cut-off read either throws or stops short of Pixel Data without saying so: then read it all.
      try {
        parsed = parse(head);
        if (!reachedPixelData(parsed.dict)) parsed = undefined;
      } catch {
        parsed = undefined;
      }
    }
    if (!parsed) {
      const whole = length < info.size ? Buffer.allocUnsafe(info.size) : head;
      if (whole !== head) await fh.read(whole, 0, info.size, 0);
      parsed = parse(whole);
    }
  } finally {
    await fh.close();
  }
  const hasPixelData = reachedPixelData(parsed.dict);
  for (const k of PIXEL_TAGS) delete parsed.dict[k];
  const result: InstanceDataset = {
    meta: parsed.meta,
    dict: parsed.dict,
    hasPixelData,
    size: info.size,
  };
  cache.set(key, result);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  return result;
}

/** First value of an attribute (tag as 8 hex digits), or undefined. */
export function first(dict: DicomDict, tag: string): unknown {
  return dict[tag]?.Value?.[0];
}

export function firstNumber(dict: DicomDict, tag: string): number | undefined {
  const v = first(dict, tag);
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function firstString(dict: DicomDict, tag: string): string | undefined {
  const v = first(dict, tag);
  return typeof v === 'string' ? v.trim() : undefined;
}

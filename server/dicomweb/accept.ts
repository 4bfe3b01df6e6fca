import { httpError } from '../errors.ts';

/**
 * The Accept header of a retrieve request (PS3.18 §8.7.3, §10.4.1.2.1), parsed into media ranges with
 * their `type`, `transfer-syntax` and `q` parameters, and the choice of what to send for each kind of
 * resource. A syntax we cannot produce is answered 406 with the list we can (§8.7.3.5.2: without
 * `transfer-syntax`, instances and uncompressed frames come in Explicit VR Little Endian).
 */

export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';

export interface MediaRange {
  type: string;
  params: Record<string, string>;
  q: number;
}

export function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const raw of splitOutsideQuotes(header, ',')) {
    const [typePart, ...paramParts] = splitOutsideQuotes(raw, ';');
    const type = typePart.trim().toLowerCase();
    if (!type) continue;
    const params: Record<string, string> = {};
    for (const p of paramParts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const key = p.slice(0, eq).trim().toLowerCase();
      let value = p.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
      params[key] = value;
    }
    const q = params.q === undefined ? 1 : Number(params.q);
    delete params.q;
    ranges.push({ type, params, q: Number.isFinite(q) ? q : 0 });
  }
  // Stable: equal q keeps the client's order.
  return ranges.filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Media types of one compressed frame (PS3.18 Table 8.7.3-2) and the syntax each implies by default. */
const FRAME_MEDIA_TYPES: Record<string, { default: string; syntaxes: string[] }> = {
  'application/octet-stream': { default: EXPLICIT_VR_LE, syntaxes: [EXPLICIT_VR_LE] },
  'image/jpeg': {
    default: '1.2.840.10008.1.2.4.50',
    syntaxes: ['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'],
  },
  'image/dicom-rle': { default: '1.2.840.10008.1.2.5', syntaxes: ['1.2.840.10008.1.2.5'] },
  'image/jls': { default: '1.2.840.10008.1.2.4.80', syntaxes: ['1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81'] },
  'image/jp2': { default: '1.2.840.10008.1.2.4.90', syntaxes: ['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91'] },
  'image/jpx': { default: '1.2.840.10008.1.2.4.92', syntaxes: ['1.2.840.10008.1.2.4.92', '1.2.840.10008.1.2.4.93'] },
  'image/jphc': {
    default: '1.2.840.10008.1.2.4.201',
    syntaxes: ['1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203'],
  },
};

/** The media type a frame in `syntax` travels as. */
export function frameMediaType(syntax: string): string {
  for (const [type, info] of Object.entries(FRAME_MEDIA_TYPES)) if (info.syntaxes.includes(syntax)) return type;
  return 'application/octet-stream';
}

/** Syntaxes whose pixel data is not encapsulated: their frames are sent as Explicit VR LE bytes. */
export const NATIVE_SYNTAXES = new Set([
  '1.2.840.10008.1.2',
  EXPLICIT_VR_LE,
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.2',
]);

function acceptsMultipartOf(range: MediaRange, partType: string): boolean {
  if (range.type === '*/*' || range.type === 'multipart/*') return !range.params.type || range.params.type === partType;
  return range.type === 'multipart/related' && (range.params.type ?? partType).toLowerCase() === partType;
}

function notAcceptable(what: string, offered: string[]): never {
  throw httpError(406, `${what} can be sent as ${offered.join(', ')}`, { code: 'not-acceptable' });
}

export interface InstanceChoice {
  /** `multipart/related; type="application/dicom"` (true) or a bare `application/dicom` body. */
  multipart: boolean;
  /** '*' = as stored; otherwise the syntax to send. */
  syntax: string;
}

/**
 * Instances (`application/dicom`): Explicit VR LE unless the request names another syntax we have
 * or `*`. `storedSyntaxes` are the syntaxes of the instances asked for.
 */
export function chooseInstanceSyntax(accept: string, storedSyntaxes: string[], single: boolean): InstanceChoice {
  const ranges = parseAccept(accept || '*/*');
  const offered = [...new Set([EXPLICIT_VR_LE, ...storedSyntaxes])];
  const listing = offered.map((s) => `transfer-syntax=${s}`);
  for (const r of ranges) {
    const bare = r.type === 'application/dicom';
    if (!bare && !acceptsMultipartOf(r, 'application/dicom')) continue;
    if (bare && !single) continue;
    const ts = r.params['transfer-syntax'];
    if (ts === undefined) return { multipart: !bare, syntax: EXPLICIT_VR_LE };
    if (ts === '*') return { multipart: !bare, syntax: '*' };
    // A syntax other than ours is only possible when every instance is already stored in it.
    if (ts === EXPLICIT_VR_LE || storedSyntaxes.every((s) => s === ts)) return { multipart: !bare, syntax: ts };
  }
  notAcceptable(
    'These instances',
    single
      ? [
          `multipart/related; type="application/dicom" or application/dicom, with ${listing.join(' or ')} or transfer-syntax=*`,
        ]
      : [`multipart/related; type="application/dicom" with ${listing.join(' or ')} or transfer-syntax=*`],
  );
}

export interface FrameChoice {
  /** '*' = as stored; otherwise the syntax to send (Explicit VR LE = decoded, uncompressed). */
  syntax: string;
}

/**
 * Frames and bulk data (`multipart/related` of single-frame media types). `type="application/octet-stream"`
 * without a syntax means uncompressed; a compressed media type means its syntax, which we send only when
 * that is how the frames are stored (we decode, we do not encode).
 */
export function chooseFrameSyntax(accept: string, storedSyntax: string): FrameChoice {
  const ranges = parseAccept(accept || '*/*');
  const stored = NATIVE_SYNTAXES.has(storedSyntax) ? EXPLICIT_VR_LE : storedSyntax;
  for (const r of ranges) {
    let partType: string;
    if (r.type === '*/*' || r.type === 'multipart/*')
      partType = (r.params.type ?? 'application/octet-stream').toLowerCase();
    else if (r.type === 'multipart/related') partType = (r.params.type ?? 'application/octet-stream').toLowerCase();
    else continue;
    const ts = r.params['transfer-syntax'];
    if (ts === '*') return { syntax: '*' };
    if (partType === '*/*' || partType === 'image/*') return { syntax: ts ?? EXPLICIT_VR_LE };
    const info = FRAME_MEDIA_TYPES[partType];
    if (!info) continue;
    const want = ts ?? info.default;
    if (!info.syntaxes.includes(want) && !(partType === 'application/octet-stream' && want === stored)) continue;
    if (want === EXPLICIT_VR_LE || want === stored) return { syntax: want };
  }
  const offered = [`multipart/related; type="application/octet-stream"; transfer-syntax=${EXPLICIT_VR_LE}`];
  if (stored !== EXPLICIT_VR_LE)
    offered.push(`multipart/related; type="${frameMediaType(stored)}"; transfer-syntax=${stored}`);
  offered.push('transfer-syntax=*');
  notAcceptable('These frames', offered);
}

/** Rendered resources (§8.7.4): JPEG by default, PNG when asked. */
export function chooseRenderedType(accept: string): 'image/jpeg' | 'image/png' {
  const ranges = parseAccept(accept || '*/*');
  for (const r of ranges) {
    if (r.type === 'image/jpeg' || r.type === 'image/*' || r.type === '*/*') return 'image/jpeg';
    if (r.type === 'image/png') return 'image/png';
  }
  notAcceptable('Rendered images', ['image/jpeg', 'image/png']);
}

/** Metadata: `application/dicom+json` (or plain JSON, which is what browsers ask for). */
export function assertAcceptsJson(accept: string): void {
  const ranges = parseAccept(accept || '*/*');
  if (ranges.some((r) => /^(application\/(dicom\+)?json|application\/\*|\*\/\*)$/.test(r.type))) return;
  notAcceptable('Metadata', ['application/dicom+json']);
}

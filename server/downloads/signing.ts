import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * Download links carry their own grant: which result files, and until when. They are stateless
 * (nothing to look up, nothing to clean up) and are signed with HMAC-SHA256 under a key that never
 * leaves DATA_DIR, so a phone holding a link can fetch exactly those files and nothing else.
 *
 * Token = base64url(deflate(JSON payload)) "." base64url(HMAC). The payload is deflated because it
 * ends up in a QR code, and a shorter address makes a sparser code that phones read from a screen.
 */

/** One file a link grants: the result it belongs to and its name in that result's file list. */
export interface GrantedFile {
  resultId: string;
  name: string;
}

export interface DownloadGrant {
  files: GrantedFile[];
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export type VerifyResult = { ok: true; grant: DownloadGrant } | { ok: false; status: 403 | 410; reason: string };

interface WirePayload {
  v: 1;
  /** Expiry in whole seconds since the epoch. */
  e: number;
  /** Files grouped by result, so a result id appears once however many of its files are chosen. */
  r: Array<[string, string[]]>;
}

const KEY_BYTES = 32;

export function keyPath(dataDir: string): string {
  return join(dataDir, 'secrets', 'download-link.key');
}

/**
 * Reads the signing key, creating it (mode 0600, directory 0700) on first use. Concurrent first
 * starts are settled by the exclusive create: the loser reads the winner's key.
 */
export async function loadOrCreateKey(dataDir: string): Promise<Buffer> {
  const path = keyPath(dataDir);
  try {
    return await readKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, randomBytes(KEY_BYTES).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
    // The umask may have narrowed the mode; it can never widen it, but make it exact anyway.
    await chmod(path, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readKey(path);
}

async function readKey(path: string): Promise<Buffer> {
  const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
  if (key.length < KEY_BYTES) throw new Error(`download link key ${path} is shorter than ${KEY_BYTES} bytes`);
  return key;
}

function mac(key: Buffer, body: string): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

export function signGrant(key: Buffer, grant: DownloadGrant): string {
  const groups = new Map<string, string[]>();
  for (const f of grant.files) {
    const names = groups.get(f.resultId) ?? [];
    names.push(f.name);
    groups.set(f.resultId, names);
  }
  const payload: WirePayload = { v: 1, e: Math.ceil(grant.expiresAt / 1000), r: [...groups] };
  const body = deflateRawSync(Buffer.from(JSON.stringify(payload)), { level: 9 }).toString('base64url');
  return `${body}.${mac(key, body).toString('base64url')}`;
}

/**
 * Checks the signature before anything else is trusted, in constant time; only a genuine token
 * can be reported as expired (410), anything altered or malformed is 403.
 */
export function verifyToken(key: Buffer, token: string, now: number = Date.now()): VerifyResult {
  const forbidden = { ok: false, status: 403, reason: 'This download link is not valid.' } as const;
  const parts = token.split('.');
  if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]) || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return forbidden;
  const [body, signature] = parts;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, body);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return forbidden;
  // The last of 43 base64url characters carries 2 unused bits: four spellings decode to the same MAC.
  // Only the one we issue is accepted, so an altered link is never taken for the original.
  if (given.toString('base64url') !== signature) return forbidden;
  let payload: WirePayload;
  try {
    payload = JSON.parse(
      inflateRawSync(Buffer.from(body, 'base64url'), { maxOutputLength: 1 << 20 }).toString('utf8'),
    ) as WirePayload;
  } catch {
    return forbidden;
  }
  if (payload.v !== 1 || !Number.isFinite(payload.e) || !Array.isArray(payload.r)) return forbidden;
  const expiresAt = payload.e * 1000;
  if (now >= expiresAt)
    return { ok: false, status: 410, reason: 'This download link has expired. Generate a new QR code.' };
  const files: GrantedFile[] = [];
  for (const [resultId, names] of payload.r) {
    for (const name of names) files.push({ resultId, name });
  }
  return { ok: true, grant: { files, expiresAt } };
}

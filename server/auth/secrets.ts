import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, URL-safe: session ids, CSRF tokens, generated passwords. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** API tokens carry a prefix so a leaked one is recognisable in logs, configs and secret scanners. */
export const TOKEN_PREFIX = 'agt_';

export function newApiToken(): string {
  return `${TOKEN_PREFIX}${randomSecret(32)}`;
}

/**
 * Tokens and session ids have 256 bits of entropy, so one SHA-256 is enough to make the stored value
 * useless to whoever reads the database, and keeps lookups indexable (a slow, salted hash would not).
 */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time string comparison; different lengths compare their hashes so nothing leaks by timing. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(createHash('sha256').update(ab).digest(), createHash('sha256').update(bb).digest());
    return false;
  }
  return timingSafeEqual(ab, bb);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyPath, loadOrCreateKey, signGrant, verifyToken } from './signing.ts';

const files = [
  { resultId: '0b7c3f9e-4a35-4d7c-9a51-1d3c2b8f6e01', name: 'torso.glb' },
  { resultId: '0b7c3f9e-4a35-4d7c-9a51-1d3c2b8f6e01', name: 'torso_seg.nii.gz' },
  { resultId: '5f2d8a61-9b0c-4e3f-8d27-6a4b1c9e0f12', name: 'head.gltf' },
];

async function tempDir(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-sign-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a fresh link verifies and carries exactly the granted files in order', async (t) => {
  const key = await loadOrCreateKey(await tempDir(t));
  const expiresAt = Date.now() + 3600_000;
  const token = signGrant(key, { files, expiresAt });
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  const verdict = verifyToken(key, token);
  assert.equal(verdict.ok, true);
  assert.ok(verdict.ok);
  assert.deepEqual(verdict.grant.files, files);
  assert.equal(verdict.grant.expiresAt, Math.ceil(expiresAt / 1000) * 1000);
});

test('an altered link is refused with 403', async (t) => {
  const key = await loadOrCreateKey(await tempDir(t));
  const token = signGrant(key, { files, expiresAt: Date.now() + 3600_000 });
  const [body, sig] = token.split('.');
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  for (const altered of [
    `${flip(body, 5)}.${sig}`,
    `${body}.${flip(sig, 10)}`,
    `${body}.${sig.slice(0, -2)}`,
    `${body}`,
    `${body}.${sig}.x`,
    '',
    'a.b',
  ]) {
    const verdict = verifyToken(key, altered);
    assert.equal(verdict.ok, false, altered);
    assert.ok(!verdict.ok);
    assert.equal(verdict.status, 403);
  }
  // A token signed under another installation's key is just as invalid.
  const otherKey = await loadOrCreateKey(await tempDir(t));
  const verdict = verifyToken(otherKey, token);
  assert.ok(!verdict.ok);
  assert.equal(verdict.status, 403);
});

test('an expired link is refused with 410, but only once its signature is genuine', async (t) => {
  const key = await loadOrCreateKey(await tempDir(t));
  const now = Date.now();
  const token = signGrant(key, { files, expiresAt: now + 60_000 });
  assert.equal(verifyToken(key, token, now + 59_000).ok, true);
  const expired = verifyToken(key, token, now + 61_000);
  assert.ok(!expired.ok);
  assert.equal(expired.status, 410);
  // Altered and expired: the alteration wins, nothing from an unsigned payload is believed. A character
  // inside the signature: the last one has two unused bits, so some changes to it decode to the same bytes.
  const at = token.length - 10;
  const altered = verifyToken(
    key,
    token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1),
    now + 61_000,
  );
  assert.ok(!altered.ok);
  assert.equal(altered.status, 403);
});

test('a signature spelled differently but decoding to the same bytes is refused', async (t) => {
  const key = await loadOrCreateKey(await tempDir(t));
  const token = signGrant(key, { files, expiresAt: Date.now() + 60_000 });
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1) ?? '');
  // Same upper four bits, other unused low bits: Buffer.from(..., 'base64url') gives the same 32 bytes.
  const twins = [0, 1, 2, 3].map((low) => alphabet[(last & ~3) | low]).filter((c) => c !== token.at(-1));
  assert.equal(twins.length, 3);
  for (const c of twins) {
    const twin = token.slice(0, -1) + c;
    assert.deepEqual(Buffer.from(twin.split('.')[1], 'base64url'), Buffer.from(token.split('.')[1], 'base64url'));
    const verdict = verifyToken(key, twin);
    assert.ok(!verdict.ok);
    assert.equal(verdict.status, 403);
  }
  assert.equal(verifyToken(key, token).ok, true);
});

test('the key is created once with mode 0600 in a 0700 directory and reused', async (t) => {
  const dir = await tempDir(t);
  const [a, b] = await Promise.all([loadOrCreateKey(dir), loadOrCreateKey(dir)]);
  assert.ok(a.equals(b), 'two concurrent first uses agree on one key');
  assert.ok(a.length >= 32);
  const info = await stat(keyPath(dir));
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'secrets'))).mode & 0o777, 0o700);
  assert.ok((await loadOrCreateKey(dir)).equals(a));
});

test('links stay short enough for a scannable QR code', async (t) => {
  const key = await loadOrCreateKey(await tempDir(t));
  const many = Array.from({ length: 10 }, (_, i) => ({
    resultId: files[i % 2 === 0 ? 0 : 2].resultId,
    name: `structure_${i}.glb`,
  }));
  const token = signGrant(key, { files: many, expiresAt: Date.now() + 3600_000 });
  assert.ok(token.length < 300, `token is ${token.length} characters`);
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

/** The server's start-up as a user meets it: `server/main.ts` run as a process with a bad setting. */

const root = join(import.meta.dirname, '../..');
const runMain = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });

test('PORT=abc stops the start with one line naming the setting and a non-zero exit', () => {
  const r = runMain(['serve'], { PORT: 'abc', DATA_DIR: '/tmp/ag-never-created' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^anatomy-gateway: PORT: expected a whole number, got "abc"/);
});

test('an unreachable DATABASE_URL exits non-zero with a one-line reason (password hidden)', () => {
  const r = runMain(['migrate'], { DATABASE_URL: 'postgres://gw:secret@127.0.0.1:1/gw', DATA_DIR: '/tmp/ag-cli-test' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /DATABASE_URL: cannot connect/);
  assert.ok(!r.stderr.includes('secret'));
});

test('worker refuses the embedded database with a clear reason', () => {
  const r = runMain(['worker'], { DATA_DIR: '/tmp/ag-cli-test' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /DATABASE_URL: `worker` needs a shared PostgreSQL/);
});

test('an unreadable TLS_CERT stops the start with one line naming it', () => {
  const r = runMain(['serve'], {
    TLS_CERT: '/nonexistent/cert.pem',
    TLS_KEY: '/nonexistent/key.pem',
    DATA_DIR: '/tmp/ag-cli-test',
  });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^anatomy-gateway: TLS_CERT: cannot read \/nonexistent\/cert\.pem \(no such file\)/);
});

test('npm start answers --help and a bad setting at once, without building the web pages', () => {
  const manifest = join(root, 'dist', 'web', 'manifest.json');
  const before = statSync(manifest, { throwIfNoEntry: false });
  const start = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'scripts/start.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
  const help = start(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^anatomy-gateway: /);
  const bad = start([], { PORT: 'abc', DATA_DIR: '/tmp/ag-never-created' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^anatomy-gateway: PORT: /);
  const after = statSync(manifest, { throwIfNoEntry: false });
  assert.equal(after?.ino, before?.ino, 'the pages were not rebuilt');
  assert.equal(after?.mtimeMs, before?.mtimeMs, 'the pages were not rebuilt');
});

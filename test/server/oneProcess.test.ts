import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { acquireDataDirLock, DataDirInUseError, lockSocketPath } from '../../server/db/dataDirLock.ts';
import { tempDataDir } from '../support/db.ts';
import { startServerProcess } from '../support/serverProcess.ts';

/** The embedded database belongs to one process: second processes refuse, `users` asks the running server. */

const ROOT = join(import.meta.dirname, '..', '..');

async function runMain(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'server', 'main.ts'), ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'silent', ...env },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function signIn(base: string, username: string, password: string): Promise<number> {
  const res = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  await res.arrayBuffer();
  return res.status;
}

test('beside a running server: serve and migrate refuse in one line, users reset-password works through the server', async (t) => {
  const dataDir = await tempDataDir(t);
  const server = await startServerProcess(t, { dataDir, env: { AUTH: 'on', WORKER_CONCURRENCY: '0' } });
  const first = /password: (\S+)/.exec(await readFile(join(dataDir, 'initial-admin-password.txt'), 'utf8'))?.[1];
  assert.ok(first);
  assert.equal(await signIn(server.url, 'admin', first), 200);

  for (const command of ['serve', 'migrate']) {
    const r = await runMain([command], { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
    assert.equal(r.code, 1, `${command}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^anatomy-gateway: DATA_DIR: .* is in use by anatomy-gateway serve \\(pid ${server.child.pid}\\); one process at a time`,
      ),
    );
  }

  // The password the command prints is the one that works, at once, on the running server.
  const reset = await runMain(['users', 'reset-password', 'admin'], { DATA_DIR: dataDir });
  assert.equal(reset.code, 0, reset.stderr);
  const fresh = /^new password for admin: (\S+) \(\d+ session\(s\) ended\)\n$/.exec(reset.stdout)?.[1];
  assert.ok(fresh, reset.stdout);
  assert.equal(await signIn(server.url, 'admin', fresh), 200);
  assert.equal(await signIn(server.url, 'admin', first), 401);

  const unknown = await runMain(['users', 'reset-password', 'nobody'], { DATA_DIR: dataDir });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stdout, /no user named "nobody"/);
  const list = await runMain(['users', 'list'], { DATA_DIR: dataDir });
  assert.match(list.stdout, /^admin\tadmin\tlast sign-in \d{4}-/);

  assert.equal(await server.stop(), 0);
  // Stopped: the commands open the database themselves again.
  const after = await runMain(['users', 'reset-password', 'admin'], { DATA_DIR: dataDir });
  assert.equal(after.code, 0, after.stderr);
  const migrate = await runMain(['migrate'], { DATA_DIR: dataDir });
  assert.equal(migrate.code, 0, migrate.stderr);
});

test('a server killed without a goodbye leaves no lock behind', async (t) => {
  const dataDir = await tempDataDir(t);
  const server = await startServerProcess(t, { dataDir, env: { WORKER_CONCURRENCY: '0' } });
  await server.kill9();
  assert.ok(existsSync(join(dataDir, 'gateway.sock')), 'the socket file stays after SIGKILL');
  const r = await runMain(['migrate'], { DATA_DIR: dataDir });
  assert.equal(r.code, 0, r.stderr);
});

test('a busy PORT stops serve with one line naming it, before migrations or the first account', async (t) => {
  const dataDir = await tempDataDir(t);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const r = await runMain(['serve'], { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', AUTH: 'on' });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^anatomy-gateway: PORT: ${port} on 127\\.0\\.0\\.1 is already in use`));
  assert.equal(existsSync(join(dataDir, 'pglite')), false, 'no database was made');
  assert.equal(existsSync(join(dataDir, 'initial-admin-password.txt')), false, 'no account was made');
});

test('two processes finding a dead socket at once: exactly one takes the data folder', async (t) => {
  const dataDir = await tempDataDir(t);
  const path = lockSocketPath(dataDir);
  for (let round = 0; round < 5; round++) {
    // A socket file whose process died (SIGKILL leaves it behind).
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(existsSync(path));

    const outcomes = await Promise.allSettled([
      acquireDataDirLock(dataDir, 'serve'),
      acquireDataDirLock(dataDir, 'migrate'),
    ]);
    const held = outcomes.filter((o) => o.status === 'fulfilled');
    assert.equal(held.length, 1, `round ${round}: ${outcomes.map((o) => o.status).join(', ')}`);
    const refused = outcomes.find((o) => o.status === 'rejected');
    assert.ok(refused?.reason instanceof DataDirInUseError, String(refused?.reason));
    await held[0].value.close();
  }
});

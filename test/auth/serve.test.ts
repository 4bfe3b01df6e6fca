import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir } from '../support/db.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { startServerProcess } from '../support/serverProcess.ts';
import { INITIAL_PASSWORD_FILE } from '../../server/auth/firstAdmin.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** HTTPS trusting exactly our self-signed certificate (fetch cannot be given a CA). */
function httpsRequest(
  url: string,
  ca: Buffer,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, ca, servername: 'localhost' },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

test('serve over HTTPS with a self-signed certificate; the first admin is made once, its password is in an owner-only file (never the log) and works', async (t) => {
  if (!requireOrSkip(t, hasProgram('openssl'), 'openssl (to make a test certificate)')) return;
  const dataDir = await tempDataDir(t);
  const cert = join(dataDir, 'cert.pem');
  const key = join(dataDir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const ca = await readFile(cert);
  const env = { AUTH: 'on', TLS_CERT: cert, TLS_KEY: key, WORKER_CONCURRENCY: '0' };

  const first = await startServerProcess(t, { dataDir, env });
  const base = first.url.replace('http://', 'https://');
  const file = join(dataDir, INITIAL_PASSWORD_FILE);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const password = /password: (\S+)/.exec(await readFile(file, 'utf8'))?.[1] ?? '';
  assert.ok(password.length >= 20);
  assert.ok(!first.output().includes(password), 'never in the log (it is not a terminal here)');
  assert.match(first.output(), /created the first account .*admin.*; its password is in .*initial-admin-password\.txt/);

  const health = await httpsRequest(`${base}/healthz`, ca);
  assert.equal(health.status, 200);
  assert.match(String(health.headers['strict-transport-security']), /max-age=\d+/);
  assert.match(String(health.headers['content-security-policy']), /script-src 'self'/);

  assert.equal((await httpsRequest(`${base}/api/jobs`, ca)).status, 401);
  const login = await httpsRequest(`${base}/api/login`, ca, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  assert.equal(login.status, 200, login.body);
  const cookies = (login.headers['set-cookie'] ?? []) as string[];
  const session = cookies.find((c) => c.startsWith('__Host-ag_session='));
  assert.ok(session, cookies.join(' | '));
  assert.match(session, /; secure/i);
  assert.match(session, /; httponly/i);
  const me = await httpsRequest(`${base}/api/me`, ca, { headers: { Cookie: session.split(';')[0] } });
  assert.equal(me.status, 200);
  assert.deepEqual((JSON.parse(me.body) as { roles: string[] }).roles, ['admin']);
  assert.equal(await first.stop(), 0);

  // A restart finds the account: no new password, none in the log, the file untouched.
  const before = await readFile(file, 'utf8');
  const second = await startServerProcess(t, { dataDir, env });
  assert.ok(!second.output().includes(password));
  assert.ok(!second.output().includes('created the first account'));
  assert.equal(await readFile(file, 'utf8'), before);
  await second.stop();
});

test('AUTH=off is announced with a warning at every start and needs no sign-in', async (t) => {
  const dataDir = await tempDataDir(t);
  const server = await startServerProcess(t, { dataDir, env: { AUTH: 'off', WORKER_CONCURRENCY: '0' } });
  assert.match(server.output(), /AUTH=off: anyone who can reach this server/);
  assert.equal((await fetch(`${server.url}/api/jobs`)).status, 200);
  await assert.rejects(stat(join(dataDir, INITIAL_PASSWORD_FILE)), 'no account is made while access control is off');
  await server.stop();
});

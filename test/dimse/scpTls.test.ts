import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { createLogger } from '../../server/log.ts';
import { startDimseServer } from '../../server/dimse/scp.ts';
import { tempDataDir, testAppDeps, withTestDatabase } from '../support/db.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { makeSyntheticCt, newUid, writeSyntheticDicomSeries } from '../support/syntheticCt.ts';
import { dcmtk } from './dcmtk.ts';

const execFileAsync = promisify(execFile);

/** Debian's dcmtk is built with OpenSSL; a build without it has no +tls option. */
function dcmtkHasTls(): boolean {
  if (!hasProgram('echoscu') || !hasProgram('storescu')) return false;
  try {
    return /\+tls\s+--enable-tls/.test(execFileSync('echoscu', ['--help'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

function requireTlsTools(t: TestContext): boolean {
  return (
    requireOrSkip(t, dcmtkHasTls(), 'DCMTK with TLS (echoscu +tls, storescu; apt-get install dcmtk)') &&
    requireOrSkip(t, hasProgram('openssl'), 'openssl')
  );
}

interface Pki {
  dir: string;
  serverCert: string;
  serverKey: string;
  ca: string;
  clientCert: string;
  clientKey: string;
  strangerCert: string;
  strangerKey: string;
}

async function openssl(args: string[]): Promise<void> {
  await execFileAsync('openssl', args);
}

/**
 * A self-signed server certificate (what a site without its own CA would use), a CA, a client
 * certificate it signed, and a self-signed client certificate it did not sign.
 */
async function makePki(t: TestContext): Promise<Pki> {
  const dir = await tempDataDir(t);
  const p = (name: string): string => join(dir, name);
  const selfSigned = (key: string, cert: string, cn: string, ...extra: string[]): Promise<void> =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p(key),
      '-out',
      p(cert),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      ...extra,
    ]);
  await Promise.all([
    selfSigned('server.key', 'server.pem', '127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'),
    selfSigned(
      'ca.key',
      'ca.pem',
      'Test DICOM CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ),
    selfSigned('stranger.key', 'stranger.pem', 'STRANGER'),
    openssl([
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p('client.key'),
      '-out',
      p('client.csr'),
      '-subj',
      '/CN=TESTSCU',
    ]),
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    p('client.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-out',
    p('client.pem'),
    '-days',
    '2',
  ]);
  return {
    dir,
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    ca: p('ca.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    strangerCert: p('stranger.pem'),
    strangerKey: p('stranger.key'),
  };
}

const peer = ['-aet', 'TESTSCU', '-aec', 'ANATOMYGW'];

test('DIMSE over TLS: echoscu and storescu +tls reach the SCP; plain DICOM to the TLS port is refused', async (t) => {
  if (!requireTlsTools(t)) return;
  const pki = await makePki(t);
  const src = join(await tempDataDir(t), 'series');
  const seriesUid = newUid();
  const files = await writeSyntheticDicomSeries(src, makeSyntheticCt({ dims: [32, 32, 4] }), { seriesUid });
  await withTestDatabase('pglite', t, async (db) => {
    // DIMSE_PORT only satisfies the setting check; the test listens on a free port.
    const deps = await testAppDeps(db, t, {
      DIMSE_PORT: '11112',
      DIMSE_TLS_CERT: pki.serverCert,
      DIMSE_TLS_KEY: pki.serverKey,
    });
    const server = await startDimseServer(deps, { port: 0 });
    try {
      const port = String(server.port);
      // +tla: TLS without a client certificate; +cf: trust our self-signed server certificate.
      const tlsClient = ['+tla', '+cf', pki.serverCert];
      const echo = await dcmtk('echoscu', [...peer, ...tlsClient, '127.0.0.1', port]);
      assert.equal(echo.code, 0, echo.stderr);

      const store = await dcmtk('storescu', [...peer, ...tlsClient, '+sd', '127.0.0.1', port, src]);
      assert.equal(store.code, 0, store.stderr);
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE series_uid = $1', [
        seriesUid,
      ]);
      assert.equal(Number(rows.rows[0].n), files.length);

      // A peer that does not speak TLS gets no association.
      const plainEcho = await dcmtk('echoscu', [...peer, '127.0.0.1', port]);
      assert.notEqual(plainEcho.code, 0, 'plain C-ECHO to the TLS port succeeded');
      const otherSeries = newUid();
      const otherSrc = join(await tempDataDir(t), 'plain');
      await writeSyntheticDicomSeries(otherSrc, makeSyntheticCt({ dims: [32, 32, 2] }), { seriesUid: otherSeries });
      const plainStore = await dcmtk('storescu', [...peer, '+sd', '127.0.0.1', port, otherSrc]);
      assert.notEqual(plainStore.code, 0, 'plain C-STORE to the TLS port succeeded');
      const none = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE series_uid = $1', [
        otherSeries,
      ]);
      assert.equal(Number(none.rows[0].n), 0);
    } finally {
      await server.close();
    }
  });
});

test('DIMSE over TLS with DIMSE_TLS_CA: only peers with a certificate the CA signed get an association', async (t) => {
  if (!requireTlsTools(t)) return;
  const pki = await makePki(t);
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, {
      DIMSE_PORT: '11112',
      DIMSE_TLS_CERT: pki.serverCert,
      DIMSE_TLS_KEY: pki.serverKey,
      DIMSE_TLS_CA: pki.ca,
    });
    const logLines: string[] = [];
    deps.logger = createLogger(
      'warn',
      new Writable({ write: (chunk: Buffer, _enc, cb) => (logLines.push(chunk.toString()), cb()) }),
    );
    const server = await startDimseServer(deps, { port: 0 });
    try {
      const port = String(server.port);
      const signed = await dcmtk('echoscu', [
        ...peer,
        '+tls',
        pki.clientKey,
        pki.clientCert,
        '+cf',
        pki.serverCert,
        '127.0.0.1',
        port,
      ]);
      assert.equal(signed.code, 0, signed.stderr);
      const anonymous = await dcmtk('echoscu', [...peer, '+tla', '+cf', pki.serverCert, '127.0.0.1', port]);
      assert.notEqual(anonymous.code, 0, 'a peer without a certificate got an association');
      const stranger = await dcmtk('echoscu', [
        ...peer,
        '+tls',
        pki.strangerKey,
        pki.strangerCert,
        '+cf',
        pki.serverCert,
        '127.0.0.1',
        port,
      ]);
      assert.notEqual(stranger.code, 0, 'a peer with a certificate the CA did not sign got an association');
      // The refusals are logged with the OpenSSL reason, since the peer only sees a closed connection.
      const handshakes = logLines.filter((l) => l.includes('DICOM TLS handshake failed'));
      assert.ok(handshakes.length >= 2, logLines.join(''));
      assert.ok(
        handshakes.some((l) => /certificate/i.test(l)),
        handshakes.join(''),
      );
    } finally {
      await server.close();
    }
  });
});

test('a DIMSE_TLS_KEY that cannot be read stops the start with one line naming it', async (t) => {
  if (!requireOrSkip(t, hasProgram('openssl'), 'openssl')) return;
  const pki = await makePki(t);
  const dataDir = join(pki.dir, 'data-never-created');
  const r = await execFileAsync(process.execPath, ['--import', 'tsx', 'server/main.ts', 'serve'], {
    cwd: join(import.meta.dirname, '../..'),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir,
      DIMSE_PORT: '11112',
      DIMSE_TLS_CERT: pki.serverCert,
      DIMSE_TLS_KEY: join(pki.dir, 'missing.key'),
    },
    timeout: 50_000,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: String(err.stderr ?? '') }),
  );
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^anatomy-gateway: DIMSE_TLS_KEY: cannot read .*missing\.key \(no such file\)/);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../../server/config/config.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { readDimseTls } from '../../server/dimse/tlsFiles.ts';

const execFileAsync = promisify(execFile);

async function pemFiles(t: TestContext): Promise<(name: string) => string> {
  const dir = await mkdtemp(join(tmpdir(), 'dimse-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const p = (name: string): string => join(dir, name);
  const selfSigned = (name: string): Promise<unknown> =>
    execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.pem`),
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ]);
  await Promise.all([selfSigned('server'), selfSigned('other')]);
  await writeFile(p('notpem.txt'), 'hello\n');
  return p;
}

function refused(setting: string, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.setting, setting);
    assert.ok(err.message.startsWith(`${setting}: `) && !err.message.includes('\n'), err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

test('DICOM TLS files: a matching certificate and key (and a CA) are read', async (t) => {
  if (!requireOrSkip(t, hasProgram('openssl'), 'openssl')) return;
  const p = await pemFiles(t);
  const m = readDimseTls({ cert: p('server.pem'), key: p('server.key'), ca: p('other.pem') });
  assert.match(m.cert.toString(), /BEGIN CERTIFICATE/);
  assert.match(m.key.toString(), /PRIVATE KEY/);
  assert.match(String(m.ca), /BEGIN CERTIFICATE/);
  assert.equal(readDimseTls({ cert: p('server.pem'), key: p('server.key'), ca: undefined }).ca, undefined);
});

test('DICOM TLS files: each problem is refused with one line naming its setting', async (t) => {
  if (!requireOrSkip(t, hasProgram('openssl'), 'openssl')) return;
  const p = await pemFiles(t);
  assert.throws(
    () => readDimseTls({ cert: p('missing.pem'), key: p('server.key'), ca: undefined }),
    refused('DIMSE_TLS_CERT', /cannot read .*missing\.pem \(no such file\)/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('missing.key'), ca: undefined }),
    refused('DIMSE_TLS_KEY', /no such file/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('server.key'), ca: p('missing-ca.pem') }),
    refused('DIMSE_TLS_CA', /no such file/),
  );
  assert.throws(
    () => readDimseTls({ cert: p(''), key: p('server.key'), ca: undefined }),
    refused('DIMSE_TLS_CERT', /is a directory/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.key'), key: p('server.key'), ca: undefined }),
    refused('DIMSE_TLS_CERT', /is not a PEM certificate/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('other.key'), ca: undefined }),
    refused('DIMSE_TLS_KEY', /is not the PEM private key of DIMSE_TLS_CERT/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('notpem.txt'), ca: undefined }),
    refused('DIMSE_TLS_KEY', /is not the PEM private key/),
  );
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('server.key'), ca: p('notpem.txt') }),
    refused('DIMSE_TLS_CA', /holds no PEM certificate/),
  );
  const in3Days = new Date(Date.now() + 3 * 24 * 3600 * 1000);
  assert.throws(
    () => readDimseTls({ cert: p('server.pem'), key: p('server.key'), ca: undefined }, undefined, in3Days),
    refused('DIMSE_TLS_CERT', /expired on \d{4}-/),
  );
});

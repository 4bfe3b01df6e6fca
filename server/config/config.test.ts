import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.ts';

test('defaults match the public contract', () => {
  const c = loadConfig({}, '/srv/gw');
  assert.equal(c.port, 8080);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.dataDir, '/srv/gw/data');
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.engine, 'auto');
  assert.equal(c.workerConcurrency, 1);
  assert.equal(c.seriesStableSeconds, 10);
  assert.equal(c.dimsePort, undefined);
  assert.equal(c.aeTitle, 'ANATOMYGW');
  assert.deepEqual(c.dimseAllowedAets, []);
  assert.equal(c.dimseTls, undefined);
  assert.equal(c.auth, true);
  assert.equal(c.sessionTtlHours, 12);
  assert.equal(c.loginMaxFailures, 10);
  assert.equal(c.downloadLinkTtlSeconds, 3600);
  assert.equal(c.meshReduction, 0.9);
  assert.equal(c.slicerTimeoutSeconds, 3600);
  assert.equal(c.segmentationQuality, 'normal');
  assert.equal(c.segmentationDevice, 'gpu');
  assert.ok(Object.isFrozen(c));
});

test('values are parsed and validated', () => {
  const c = loadConfig({
    PORT: '9000',
    DATA_DIR: '/var/lib/gw',
    DATABASE_URL: 'postgres://u:p@db:5432/gw',
    ENGINE: 'Builtin',
    WORKER_CONCURRENCY: '4',
    DIMSE_PORT: '11112',
    DIMSE_ALLOWED_AETS: 'PACS1, CT_SCANNER ',
    AUTH: 'off',
    KEEP_INPUTS: 'yes',
    MESH_REDUCTION: '0.5',
    PUBLIC_URL: 'https://gw.hospital.example/',
    LOG_LEVEL: 'debug',
  });
  assert.equal(c.port, 9000);
  assert.equal(c.dataDir, '/var/lib/gw');
  assert.equal(c.databaseUrl, 'postgres://u:p@db:5432/gw');
  assert.equal(c.engine, 'builtin');
  assert.equal(c.workerConcurrency, 4);
  assert.equal(c.dimsePort, 11112);
  assert.deepEqual(c.dimseAllowedAets, ['PACS1', 'CT_SCANNER']);
  assert.equal(c.auth, false);
  assert.equal(c.keepInputs, true);
  assert.equal(c.meshReduction, 0.5);
  assert.equal(c.publicUrl, 'https://gw.hospital.example');
  assert.equal(c.logLevel, 'debug');
});

test('DICOM TLS settings give the file paths (read at start), with or without a client CA', () => {
  const base = { DIMSE_PORT: '2762', DIMSE_TLS_CERT: '/etc/gw/dicom.pem', DIMSE_TLS_KEY: '/etc/gw/dicom.key' };
  assert.deepEqual(loadConfig(base).dimseTls, { cert: '/etc/gw/dicom.pem', key: '/etc/gw/dicom.key', ca: undefined });
  assert.deepEqual(loadConfig({ ...base, DIMSE_TLS_CA: '/etc/gw/ca.pem' }).dimseTls, {
    cert: '/etc/gw/dicom.pem',
    key: '/etc/gw/dicom.key',
    ca: '/etc/gw/ca.pem',
  });
});

const bad: Array<[Record<string, string>, string]> = [
  [{ PORT: 'abc' }, 'PORT'],
  [{ PORT: '70000' }, 'PORT'],
  [{ PORT: '8080.5' }, 'PORT'],
  [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
  [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
  [{ ENGINE: 'vtk' }, 'ENGINE'],
  [{ WORKER_CONCURRENCY: '-1' }, 'WORKER_CONCURRENCY'],
  [{ AE_TITLE: 'THIS_AE_TITLE_IS_TOO_LONG' }, 'AE_TITLE'],
  [{ DIMSE_ALLOWED_AETS: 'OK,BAD\\AE' }, 'DIMSE_ALLOWED_AETS'],
  [{ AUTH: 'maybe' }, 'AUTH'],
  [{ SESSION_TTL_HOURS: '0' }, 'SESSION_TTL_HOURS'],
  [{ LOGIN_MAX_FAILURES: 'many' }, 'LOGIN_MAX_FAILURES'],
  [{ MESH_REDUCTION: '1.5' }, 'MESH_REDUCTION'],
  [{ MESH_REDUCTION: 'lots' }, 'MESH_REDUCTION'],
  [{ TLS_CERT: '/x.pem' }, 'TLS_KEY'],
  [{ DIMSE_PORT: '11112', DIMSE_TLS_CERT: '/c.pem' }, 'DIMSE_TLS_KEY'],
  [{ DIMSE_PORT: '11112', DIMSE_TLS_KEY: '/k.pem' }, 'DIMSE_TLS_CERT'],
  [{ DIMSE_PORT: '11112', DIMSE_TLS_CA: '/ca.pem' }, 'DIMSE_TLS_CA'],
  [{ DIMSE_TLS_CERT: '/c.pem', DIMSE_TLS_KEY: '/k.pem' }, 'DIMSE_TLS_CERT'],
  [{ PUBLIC_URL: 'ftp://x' }, 'PUBLIC_URL'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [{ SEGMENTATION_QUALITY: 'best' }, 'SEGMENTATION_QUALITY'],
  [{ SEGMENTATION_DEVICE: 'tpu' }, 'SEGMENTATION_DEVICE'],
];
for (const [env, setting] of bad) {
  test(`a bad ${setting} (${JSON.stringify(env)}) is refused with a message naming it`, () => {
    assert.throws(
      () => loadConfig(env),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.setting, setting);
        assert.ok(err.message.startsWith(`${setting}: `), err.message);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  });
}

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import type { Database } from '../../server/db/database.ts';
import { FailureReason, InstanceRejectedError } from '../../server/dicom/failure.ts';
import { startDimseServer, type DimseServerOptions } from '../../server/dimse/scp.ts';
import type { AppContext } from '../../server/app/context.ts';
import { tempDataDir, testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { TS, writePart10 } from '../support/dicomPart10.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { makeSyntheticCt, newUid, writeSyntheticDicomSeries } from '../support/syntheticCt.ts';
import { dcmtk } from './dcmtk.ts';

function requireDcmtk(t: TestContext): boolean {
  return requireOrSkip(
    t,
    hasProgram('storescu') && hasProgram('echoscu'),
    'DCMTK (echoscu, storescu; apt-get install dcmtk)',
  );
}

/** A migrated PGlite database, AppContext around it and a running SCP on an ephemeral port. */
async function withScp(
  t: TestContext,
  env: Record<string, string>,
  fn: (ctx: { deps: AppContext & { dataDir: string }; db: Database; port: number }) => Promise<void>,
  opts: DimseServerOptions = {},
  driver: 'pglite' | 'postgres' = 'pglite',
): Promise<void> {
  await withTestDatabase(driver, t, async (db) => {
    const deps = await testAppDeps(db, t, env);
    const server = await startDimseServer(deps, { port: 0, ...opts });
    try {
      await fn({ deps, db, port: server.port });
    } finally {
      await server.close();
    }
  });
}

async function tmpFiles(dataDir: string): Promise<string[]> {
  return readdir(join(dataDir, 'tmp')).catch(() => []);
}

test('echoscu verifies the SCP with C-ECHO', async (t) => {
  if (!requireDcmtk(t)) return;
  await withScp(t, {}, async ({ port }) => {
    const r = await dcmtk('echoscu', ['-aet', 'TESTSCU', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.equal(r.code, 0, r.stderr);
  });
});

for (const driver of testDatabases()) {
  test(`storescu of a generated CT series stores every instance, byte for byte, with index rows (${driver})`, async (t) => {
    if (!requireDcmtk(t)) return;
    const src = join(await tempDataDir(t), 'series');
    const volume = makeSyntheticCt({ dims: [64, 64, 12] });
    const seriesUid = newUid();
    const files = await writeSyntheticDicomSeries(src, volume, {
      seriesUid,
      patientName: 'Secret^Patient',
      patientId: 'PID-12345',
    });
    await withScp(
      t,
      { DIMSE_ALLOWED_AETS: 'TESTSCU,OTHER' },
      async ({ deps, db, port }) => {
        const r = await dcmtk('storescu', [
          '-aet',
          'TESTSCU',
          '-aec',
          'ANATOMYGW',
          '+sd',
          '127.0.0.1',
          String(port),
          src,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const rows = await db.query<{
          sop_instance_uid: string;
          path: string;
          received_via: string;
          calling_aet: string;
          transfer_syntax_uid: string;
        }>(
          'SELECT sop_instance_uid, path, received_via, calling_aet, transfer_syntax_uid FROM dicom_instances WHERE series_uid = $1',
          [seriesUid],
        );
        assert.equal(rows.rowCount, files.length);
        for (const row of rows.rows) {
          assert.equal(row.received_via, 'dimse');
          assert.equal(row.calling_aet, 'TESTSCU');
          assert.equal(row.transfer_syntax_uid, TS.explicitLittle);
        }
        // Each stored file holds exactly the sent data set (everything after the File Meta group).
        const bySop = new Map(rows.rows.map((row) => [row.sop_instance_uid, row.path]));
        for (const file of files) {
          const original = await readFile(file);
          const sent = dicomParser.parseDicom(new Uint8Array(original));
          const sop = sent.string('x00080018') ?? '';
          const rel = bySop.get(sop);
          assert.ok(rel, `instance ${sop} was stored`);
          const stored = await readFile(join(deps.dataDir, rel));
          const parsed = dicomParser.parseDicom(new Uint8Array(stored));
          assert.equal(parsed.string('x00020010'), TS.explicitLittle);
          assert.equal(parsed.string('x00020016'), 'TESTSCU');
          const datasetStart = (ds: dicomParser.DataSet, bytes: Buffer): Buffer =>
            bytes.subarray(132 + 12 + (ds.uint32('x00020000') ?? 0));
          assert.ok(
            datasetStart(parsed, stored).equals(datasetStart(sent, original)),
            `data set of ${sop} is unchanged`,
          );
        }
        assert.deepEqual(await tmpFiles(deps.dataDir), [], 'no temp files left');
      },
      {},
      driver,
    );
  });
}

test('patient data never reaches the log', async (t) => {
  if (!requireDcmtk(t)) return;
  const src = join(await tempDataDir(t), 'series');
  await writeSyntheticDicomSeries(src, makeSyntheticCt({ dims: [32, 32, 3] }), {
    patientName: 'Doe^Jane',
    patientId: 'MRN-998877',
  });
  const lines: string[] = [];
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { DIMSE_ALLOWED_AETS: 'ALLOWED' });
    const { createLogger } = await import('../../server/log.ts');
    const sink = new (await import('node:stream')).Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const server = await startDimseServer({ ...deps, logger: createLogger('trace', sink) }, { port: 0 });
    try {
      assert.equal(
        (
          await dcmtk('storescu', [
            '-aet',
            'ALLOWED',
            '-aec',
            'ANATOMYGW',
            '+sd',
            '127.0.0.1',
            String(server.port),
            src,
          ])
        ).code,
        0,
      );
      assert.notEqual(
        (await dcmtk('storescu', ['-aet', 'DENIED', '-aec', 'ANATOMYGW', '+sd', '127.0.0.1', String(server.port), src]))
          .code,
        0,
      );
    } finally {
      await server.close();
    }
  });
  const log = lines.join('');
  assert.match(log, /DICOM association accepted/);
  assert.match(log, /DICOM association rejected/);
  assert.match(log, /DICOM association closed/);
  assert.doesNotMatch(log, /Doe|Jane|MRN-998877/);
});

test('a calling AE title outside DIMSE_ALLOWED_AETS is rejected (calling AE not recognized)', async (t) => {
  if (!requireDcmtk(t)) return;
  await withScp(t, { DIMSE_ALLOWED_AETS: 'PACS1,CT01' }, async ({ port }) => {
    const denied = await dcmtk('echoscu', ['-aet', 'INTRUDER', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Association Rejected/);
    assert.match(denied.stderr, /Rejected Permanent, Source: Service User/);
    assert.match(denied.stderr, /Calling AE Title Not Recognized/);
    const allowed = await dcmtk('echoscu', ['-aet', 'CT01', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.equal(allowed.code, 0, allowed.stderr);
  });
});

test('a wrong called AE title is rejected (called AE not recognized)', async (t) => {
  if (!requireDcmtk(t)) return;
  await withScp(t, { AE_TITLE: 'GATEWAY7' }, async ({ port }) => {
    const wrong = await dcmtk('echoscu', ['-aet', 'PACS1', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Called AE Title Not Recognized/);
    assert.equal((await dcmtk('echoscu', ['-aet', 'PACS1', '-aec', 'GATEWAY7', '127.0.0.1', String(port)])).code, 0);
  });
});

test('RLE and deflated instances proposed in their own syntax are stored as sent', async (t) => {
  if (!requireDcmtk(t)) return;
  const dir = await tempDataDir(t);
  const volume = makeSyntheticCt({ dims: [48, 48, 3] });
  const cases = [
    { ts: TS.rle, flag: '-xr' },
    { ts: TS.deflatedExplicitLittle, flag: '-xd' },
    { ts: TS.explicitBig, flag: '-xb' },
    { ts: TS.implicitLittle, flag: '-xi' },
  ] as const;
  await withScp(t, {}, async ({ db, port }) => {
    for (const c of cases) {
      const seriesUid = newUid();
      const src = join(dir, c.ts);
      await writeSyntheticDicomSeries(src, volume, { seriesUid, transferSyntax: c.ts });
      const r = await dcmtk('storescu', [
        '-aet',
        'TESTSCU',
        '-aec',
        'ANATOMYGW',
        c.flag,
        '+sd',
        '127.0.0.1',
        String(port),
        src,
      ]);
      assert.equal(r.code, 0, `${c.ts}: ${r.stderr}`);
      const rows = await db.query<{ transfer_syntax_uid: string }>(
        'SELECT transfer_syntax_uid FROM dicom_instances WHERE series_uid = $1',
        [seriesUid],
      );
      assert.equal(rows.rowCount, 3, c.ts);
      assert.deepEqual([...new Set(rows.rows.map((r) => r.transfer_syntax_uid))], [c.ts]);
    }
  });
});

test('refused instances get a specific C-STORE failure status and leave nothing behind', async (t) => {
  if (!requireDcmtk(t)) return;
  const dir = await tempDataDir(t);
  // A CT image without Series Instance UID: ingest cannot file it (0xC000, cannot understand).
  const sopInstanceUid = newUid();
  const broken = writePart10(
    [
      { tag: '00080016', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
      { tag: '00080018', vr: 'UI', value: sopInstanceUid },
      { tag: '00080060', vr: 'CS', value: 'CT' },
      { tag: '0020000D', vr: 'UI', value: newUid() },
    ],
    { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid, transferSyntax: TS.explicitLittle },
  );
  const brokenFile = join(dir, 'broken.dcm');
  await writeFile(brokenFile, broken);
  await withScp(t, {}, async ({ deps, db, port }) => {
    const r = await dcmtk('storescu', [
      '-d',
      '-aet',
      'TESTSCU',
      '-aec',
      'ANATOMYGW',
      '127.0.0.1',
      String(port),
      brokenFile,
    ]);
    assert.match(r.stderr, /DIMSE Status\s+: 0xc000/, r.stderr);
    // The reason travels to the sender's operator in the Error Comment (0000,0902).
    assert.match(r.stderr, /\(0000,0902\) LO \[[^\]]*Series Instance UID/);
    assert.equal((await db.query('SELECT 1 FROM dicom_instances')).rowCount, 0);
    assert.deepEqual(await tmpFiles(deps.dataDir), []);
  });

  // Disk below MIN_FREE_DISK_MB: refused before anything is written (0xA700, out of resources).
  const src = join(dir, 'series');
  await writeSyntheticDicomSeries(src, makeSyntheticCt({ dims: [32, 32, 2] }));
  await withScp(t, { MIN_FREE_DISK_MB: String(1 << 29) }, async ({ deps, db, port }) => {
    const r = await dcmtk('storescu', [
      '-d',
      '-aet',
      'TESTSCU',
      '-aec',
      'ANATOMYGW',
      '+sd',
      '127.0.0.1',
      String(port),
      src,
    ]);
    assert.match(r.stderr, /DIMSE Status\s+: 0xa700/, r.stderr);
    assert.match(r.stderr, /\(0000,0902\) LO \[Out of resources: \d+ MB free, MIN_FREE_DISK_MB is \d+\]/);
    assert.equal((await db.query('SELECT 1 FROM dicom_instances')).rowCount, 0);
    assert.deepEqual(await tmpFiles(deps.dataDir), []);
  });

  // An unexpected failure inside ingest is a processing failure (0x0110), never a silent success.
  await withScp(
    t,
    {},
    async ({ deps, port }) => {
      const r = await dcmtk('storescu', [
        '-d',
        '-aet',
        'TESTSCU',
        '-aec',
        'ANATOMYGW',
        '+sd',
        '127.0.0.1',
        String(port),
        src,
      ]);
      assert.match(r.stderr, /DIMSE Status\s+: 0x0110/, r.stderr);
      assert.match(r.stderr, /\(0000,0902\) LO \[the database is unavailable\]/);
      assert.deepEqual(await tmpFiles(deps.dataDir), []);
    },
    {
      storeInstance: async (_deps, source) => {
        const { rm } = await import('node:fs/promises');
        await rm(source.file);
        throw new InstanceRejectedError(FailureReason.ProcessingFailure, 'the database is unavailable');
      },
    },
  );
});

test('close() stops listening and waits for in-flight instances', async (t) => {
  if (!requireDcmtk(t)) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const server = await startDimseServer(deps, { port: 0 });
    assert.equal((await dcmtk('echoscu', ['-aec', 'ANATOMYGW', '127.0.0.1', String(server.port)])).code, 0);
    await server.close();
    await server.close(); // idempotent
    const after = await dcmtk('echoscu', ['-to', '5', '-aec', 'ANATOMYGW', '127.0.0.1', String(server.port)]);
    assert.notEqual(after.code, 0);
  });
});

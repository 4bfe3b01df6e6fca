import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import dicomParser from 'dicom-parser';
import type { Database } from '../../server/db/database.ts';
import { startDimseServer } from '../../server/dimse/scp.ts';
import type { AppContext } from '../../server/app/context.ts';
import { tempDataDir, testAppDeps, withTestDatabase } from '../support/db.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { dcmtk } from './dcmtk.ts';

const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

interface SourceFile {
  path: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  /** Missing in some real files (e.g. a Philips DIRFILE): ingest must refuse those, specifically. */
  studyInstanceUid: string | undefined;
  datasetHasSopClass: boolean;
  bytes: Buffer;
}

async function readSource(path: string): Promise<SourceFile | undefined> {
  const bytes = await readFile(path);
  try {
    const ds = dicomParser.parseDicom(new Uint8Array(bytes), { untilTag: 'x7fe00010' });
    const sopClassUid = ds.string('x00020002') ?? '';
    return {
      path,
      // A DICOMDIR-type file is sent too (storescu finds a SOP Class UID in its records): it must be refused.
      sopClassUid: sopClassUid === MEDIA_STORAGE_DIRECTORY ? (ds.string('x00080016') ?? sopClassUid) : sopClassUid,
      // The data set's UID is the instance's identity (the meta copy sometimes differs).
      sopInstanceUid: ds.string('x00080018') || (ds.string('x00020003') ?? ''),
      transferSyntaxUid: ds.string('x00020010') ?? '',
      studyInstanceUid: ds.string('x0020000d') || undefined,
      datasetHasSopClass: Boolean(ds.string('x00080016')) || sopClassUid === MEDIA_STORAGE_DIRECTORY,
      bytes,
    };
  } catch {
    return undefined;
  }
}

async function sourcesIn(dir: string): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const f = await readSource(join(dir, name));
    if (f) out.push(f);
  }
  return out;
}

/** DIMSE status lines and error comments of failed C-STOREs in storescu -d output. */
function failures(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => /DIMSE Status\s+: 0x(?!0000)|ErrorComment|^E: |^F: /.test(l))
    .join('\n');
}

/** The Pixel Data value exactly as encoded (native or encapsulated fragments). */
function pixelDataBytes(bytes: Buffer): Buffer | undefined {
  const ds = dicomParser.parseDicom(new Uint8Array(bytes));
  const el = ds.elements.x7fe00010;
  return el ? bytes.subarray(el.dataOffset, el.dataOffset + el.length) : undefined;
}

/**
 * storescu re-serialises what it reads (it drops Data Set Trailing Padding, for one), so the stored
 * file is compared with the source by identity, syntax and the encoded pixel data, which must be
 * untouched: nothing is transcoded on either side.
 */
function assertSameInstance(stored: Buffer, src: SourceFile): void {
  const ds = dicomParser.parseDicom(new Uint8Array(stored), { untilTag: 'x7fe00010' });
  assert.equal(ds.string('x00080018'), src.sopInstanceUid, src.path);
  assert.equal(ds.string('x00020010'), src.transferSyntaxUid, src.path);
  assert.equal(ds.string('x0020000d'), src.studyInstanceUid, src.path);
  const a = pixelDataBytes(stored);
  const b = pixelDataBytes(src.bytes);
  assert.ok(a && b && a.equals(b), `${src.path}: pixel data unchanged`);
}

/**
 * A storescu association profile that proposes each file's own transfer syntax (storescu's -x
 * options cover only some syntaxes and never JPEG Lossless Process 14).
 */
async function profileFor(dir: string, files: SourceFile[]): Promise<string> {
  const syntaxes = [...new Set(files.map((f) => f.transferSyntaxUid))];
  const pairs = [...new Set(files.map((f) => `${f.sopClassUid}\\TS${syntaxes.indexOf(f.transferSyntaxUid)}`))];
  assert.ok(pairs.length <= 128);
  const lines = ['[[TransferSyntaxes]]'];
  syntaxes.forEach((ts, i) => lines.push(`[TS${i}]`, `TransferSyntax1 = ${ts}`));
  lines.push('[[PresentationContexts]]', '[AsSent]');
  pairs.forEach((p, i) => lines.push(`PresentationContext${i + 1} = ${p}`));
  lines.push('[[Profiles]]', '[AsSent]', 'PresentationContexts = AsSent');
  const cfg = join(dir, 'as-sent.cfg');
  await writeFile(cfg, `${lines.join('\n')}\n`);
  return cfg;
}

async function withScp(
  t: TestContext,
  fn: (ctx: { deps: AppContext & { dataDir: string }; db: Database; port: number }) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, env);
    const server = await startDimseServer(deps, { port: 0 });
    try {
      await fn({ deps, db, port: server.port });
    } finally {
      await server.close();
    }
  });
}

function ready(t: TestContext): boolean {
  return requireTestData(t) && requireOrSkip(t, hasProgram('storescu'), 'DCMTK storescu (apt-get install dcmtk)');
}

test('storescu of the real CT series stores every instance unchanged; an unidentifiable file is refused', async (t) => {
  if (!ready(t)) return;
  const root = testDataPath('dicom', 'ct_series');
  let stored = 0;
  let refused = 0;
  await withScp(t, async ({ deps, db, port }) => {
    for (const name of (await readdir(root)).sort()) {
      // storescu cannot send a data set with an empty SOP Class UID (totalseg_torso_20sl_j2k has
      // empty UIDs; its re-identified copy is sent in the JPEG 2000 test below).
      const sources = (await sourcesIn(join(root, name))).filter((s) => s.datasetHasSopClass);
      const fileable = sources.filter((s) => s.studyInstanceUid !== undefined);
      const unfileable = sources.filter((s) => s.studyInstanceUid === undefined);
      const send = (files: SourceFile[]) =>
        dcmtk('storescu', [
          '-d',
          '-aet',
          'PACS',
          '-aec',
          'ANATOMYGW',
          '-xv',
          '127.0.0.1',
          String(port),
          ...files.map((f) => f.path),
        ]);
      if (fileable.length > 0) {
        const r = await send(fileable);
        assert.equal(r.code, 0, `${name}: ${failures(r.stderr)}`);
        stored += fileable.length;
      }
      for (const src of fileable) {
        const row = await db.query<{ path: string; transfer_syntax_uid: string }>(
          'SELECT path, transfer_syntax_uid FROM dicom_instances WHERE sop_instance_uid = $1',
          [src.sopInstanceUid],
        );
        assert.equal(row.rowCount, 1, `${name}: ${src.path} was stored`);
        assert.equal(row.rows[0].transfer_syntax_uid, src.transferSyntaxUid);
        assertSameInstance(await readFile(join(deps.dataDir, row.rows[0].path)), src);
      }
      // A Philips DIRFILE (a DICOMDIR whose records storescu takes for a CT image) and a series with
      // empty UIDs cannot be filed: refused with "cannot understand" and the reason, nothing stored.
      refused += unfileable.length;
      for (const src of unfileable) {
        const before = (await db.query('SELECT 1 FROM dicom_instances')).rowCount;
        const refused = await send([src]);
        assert.match(failures(refused.stderr), /DIMSE Status\s+: 0xc000/, src.path);
        assert.match(refused.stderr, /\(0000,0902\) LO \[Study Instance UID \(0020,000D\) is missing\]/);
        assert.equal((await db.query('SELECT 1 FROM dicom_instances')).rowCount, before);
      }
    }
    assert.ok(stored > 150, `${stored} real CT instances sent`);
    assert.equal(refused, 1, 'the Philips DIRFILE was sent and refused');
    assert.deepEqual(await readdir(join(deps.dataDir, 'tmp')), []);
  });
});

test('a JPEG 2000 series proposed with its own syntax is accepted and stored as sent', async (t) => {
  if (!ready(t)) return;
  const dir = testDataPath('derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_j2k_4.90');
  const sources = await sourcesIn(dir);
  await withScp(t, async ({ db, port }) => {
    // -xv proposes JPEG 2000 lossless next to the uncompressed syntaxes; storescu picks the context
    // matching each file, so nothing is decompressed on the way.
    const r = await dcmtk('storescu', [
      '-v',
      '-aet',
      'PACS',
      '-aec',
      'ANATOMYGW',
      '-xv',
      '+sd',
      '127.0.0.1',
      String(port),
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Converting transfer syntax: JPEG 2000 \(Lossless only\) -> Little/);
    assert.match(r.stderr, /Converting transfer syntax: JPEG 2000 \(Lossless only\) -> JPEG 2000 \(Lossless only\)/);
    const rows = await db.query<{ transfer_syntax_uid: string; n: number }>(
      'SELECT transfer_syntax_uid, count(*)::int AS n FROM dicom_instances GROUP BY transfer_syntax_uid',
    );
    assert.deepEqual(rows.rows, [{ transfer_syntax_uid: '1.2.840.10008.1.2.4.90', n: sources.length }]);
  });
});

test('every compressed sample is accepted in its own transfer syntax and kept byte for byte', async (t) => {
  if (!ready(t)) return;
  const dirs = [testDataPath('dicom', 'compressed_single'), testDataPath('dicom', 'compressed_series')];
  const files: SourceFile[] = [];
  for (const root of dirs) {
    for (const name of (await readdir(root, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()) {
      files.push(...(await sourcesIn(join(root, name))));
    }
  }
  const work = await tempDataDir(t);
  const cfg = await profileFor(work, files);
  await withScp(
    t,
    async ({ deps, db, port }) => {
      // One file per association: some samples are the same instance in several syntaxes, each replacing the last.
      for (const src of files) {
        const r = await dcmtk('storescu', [
          '-aet',
          'PACS',
          '-aec',
          'ANATOMYGW',
          '-xf',
          cfg,
          'AsSent',
          '127.0.0.1',
          String(port),
          src.path,
        ]);
        assert.equal(r.code, 0, `${src.path}: ${r.stderr}`);
        const row = await db.query<{ path: string; transfer_syntax_uid: string }>(
          'SELECT path, transfer_syntax_uid FROM dicom_instances WHERE sop_instance_uid = $1',
          [src.sopInstanceUid],
        );
        assert.equal(row.rowCount, 1, `${src.path} was stored`);
        assert.equal(row.rows[0].transfer_syntax_uid, src.transferSyntaxUid, src.path);
        const stored = await readFile(join(deps.dataDir, row.rows[0].path));
        assertSameInstance(stored, src);
      }
    },
    { OVERWRITE_INSTANCES: 'true' },
  );
});

test('storescu +C -xy and +C -xs (JPEG offered first in one context with the uncompressed syntaxes): every instance arrives unchanged in Explicit VR Little Endian', async (t) => {
  if (!ready(t)) return;
  const dir = testDataPath('dicom', 'ct_series', 'slicer_cthead_93sl_64px');
  const sources = await sourcesIn(dir);
  assert.equal(sources.length, 93);
  assert.ok(sources.every((s) => s.transferSyntaxUid === '1.2.840.10008.1.2.1'));
  for (const propose of ['-xy', '-xs']) {
    await withScp(t, async ({ deps, db, port }) => {
      const r = await dcmtk('storescu', [
        '-v',
        '+v',
        '-aet',
        'PACS',
        '-aec',
        'ANATOMYGW',
        '+C',
        propose,
        '+sd',
        '127.0.0.1',
        String(port),
        dir,
      ]);
      assert.equal(r.code, 0, `${propose}: ${failures(r.stderr)}`);
      // One context per SOP class, a JPEG syntax proposed first; we took Explicit VR Little Endian.
      const role = String.raw`\n(.*Role: Default\n)+`;
      assert.match(
        r.stderr,
        new RegExp(
          String.raw`Abstract Syntax: =CTImageStorage${role}.*Proposed Transfer Syntax\(es\):\n.*=JPEG\S+\n.*=LittleEndianExplicit`,
        ),
        propose,
      );
      assert.match(
        r.stderr,
        new RegExp(
          String.raw`\(Accepted\)\n.*Abstract Syntax: =CTImageStorage${role}.*Accepted Transfer Syntax: =LittleEndianExplicit`,
        ),
        propose,
      );
      assert.doesNotMatch(r.stderr, /Accepted Transfer Syntax: =JPEG/, propose);
      assert.doesNotMatch(r.stderr, /Converting transfer syntax: .* -> JPEG/, propose);
      const rows = await db.query<{ sop_instance_uid: string; path: string; transfer_syntax_uid: string }>(
        'SELECT sop_instance_uid, path, transfer_syntax_uid FROM dicom_instances',
      );
      assert.equal(rows.rowCount, sources.length, `${propose}: all ${sources.length} instances stored`);
      const byUid = new Map(rows.rows.map((row) => [row.sop_instance_uid, row]));
      for (const src of sources) {
        const row = byUid.get(src.sopInstanceUid);
        assert.ok(row, `${propose}: ${src.path} stored`);
        assert.equal(row.transfer_syntax_uid, '1.2.840.10008.1.2.1');
        const stored = await readFile(join(deps.dataDir, row.path));
        // Not lossy: the pixel data is the source's, byte for byte, and nothing says otherwise.
        assertSameInstance(stored, src);
        const ds = dicomParser.parseDicom(new Uint8Array(stored), { untilTag: 'x7fe00010' });
        assert.notEqual(ds.string('x00282110'), '01', `${src.path}: Lossy Image Compression`);
      }
    });
  }
});

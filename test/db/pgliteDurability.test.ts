import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../server/log.ts';
import { migrate } from '../../server/db/migrate.ts';
import { openPgliteDatabase, walSyncer } from '../../server/db/pgliteDatabase.ts';

test('a committed write on the embedded database is fsynced (its WAL) before it resolves', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-pglite-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const synced: string[] = [];
  const db = await openPgliteDatabase(join(dir, 'db'), {
    fsyncFile: async (path) => {
      synced.push(path);
    },
  });
  try {
    await db.exec('CREATE TABLE t (v int)');
    assert.ok(
      synced.some((p) => p.endsWith(join('global', 'pg_control'))),
      'the first sync covers pg_control',
    );
    synced.length = 0;
    await db.query('SELECT 1');
    assert.equal(synced.length, 0, 'reads need no fsync');

    await db.query('INSERT INTO t VALUES (1)');
    assert.ok(
      synced.some((p) => /pg_wal[/\\][0-9A-F]{24}$/.test(p)),
      `WAL not synced: ${synced.join(', ')}`,
    );

    // A SELECT that calls one of our writing functions is a write too.
    await migrate(db, silentLogger());
    synced.length = 0;
    const study = { study_uid: '1.2.3' };
    const series = { series_uid: '1.2.3.4', study_uid: '1.2.3' };
    const instance = {
      sop_instance_uid: '1.2.3.4.5',
      series_uid: '1.2.3.4',
      study_uid: '1.2.3',
      sop_class_uid: '1.2.840.10008.5.1.4.1.1.2',
      transfer_syntax_uid: '1.2.840.10008.1.2.1',
      has_pixel_data: true,
      volume_image: true,
      image_type: [],
      path: 'instances/1.2.3.4.5.dcm',
      size_bytes: 1024,
      received_via: 'stow',
    };
    await db.query('SELECT * FROM dicom_index_instances($1::jsonb, $2::jsonb, $3::jsonb, $4)', [
      JSON.stringify([study]),
      JSON.stringify([series]),
      JSON.stringify([instance]),
      false,
    ]);
    assert.equal((await db.query('SELECT 1 FROM dicom_instances WHERE series_uid = $1', ['1.2.3.4'])).rows.length, 1);
    assert.ok(
      synced.some((p) => /pg_wal[/\\][0-9A-F]{24}$/.test(p)),
      `WAL not synced after the index call: ${synced.join(', ')}`,
    );

    synced.length = 0;
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (2)');
      assert.equal(synced.length, 0, 'nothing is synced before the commit');
    });
    assert.ok(synced.length > 0, 'the commit was synced before transaction() resolved');
  } finally {
    await db.close();
  }
});

test('concurrent callers share fsyncs, and each waits for one that started after its call', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-wal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { appendFile, mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(join(dir, 'pg_wal'));
  await mkdir(join(dir, 'global'));
  await writeFile(join(dir, 'pg_wal', '000000010000000000000001'), '');
  await writeFile(join(dir, 'global', 'pg_control'), '');
  let started = 0;
  let release: () => void = () => undefined;
  const wal = join(dir, 'pg_wal', '000000010000000000000001');
  const sync = walSyncer(dir, async (path) => {
    if (path === wal) {
      started++;
      await new Promise<void>((r) => (release = r));
    }
  });
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  };
  const first = sync();
  await until(() => started === 1);
  assert.equal(started, 1);
  // Three callers write and arrive while the first sync runs: they share exactly one more sync.
  await appendFile(wal, 'x');
  const later = [sync(), sync(), sync()];
  release();
  await first;
  await until(() => started === 2);
  assert.equal(started, 2);
  release();
  await Promise.all(later);
  assert.equal(started, 2);
});

test('a sync skips files unchanged since their last fsync, but always syncs files touched just now', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-wal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { appendFile, mkdir, rename, utimes, writeFile } = await import('node:fs/promises');
  await mkdir(join(dir, 'pg_wal'));
  await mkdir(join(dir, 'global'));
  const used = join(dir, 'pg_wal', '000000010000000000000001');
  const recycled = join(dir, 'pg_wal', '000000010000000000000002');
  const control = join(dir, 'global', 'pg_control');
  for (const f of [used, recycled, control]) await writeFile(f, 'x');
  const old = new Date(Date.now() - 60_000);
  for (const f of [used, recycled, control]) await utimes(f, old, old);
  const synced: string[] = [];
  const targets = new Map<string, string>();
  const sync = walSyncer(dir, async (p, target) => {
    synced.push(p);
    targets.set(p, target);
  });
  await sync();
  const walDir = join(dir, 'pg_wal');
  assert.deepEqual(new Set(synced), new Set([used, recycled, control, walDir]), 'the first sync covers everything');
  // fdatasync for segments (preallocated: only their data changes), fsync for pg_control and the directory.
  assert.deepEqual(Object.fromEntries(targets), {
    [used]: 'wal',
    [recycled]: 'wal',
    [control]: 'control',
    [walDir]: 'directory',
  });
  synced.length = 0;
  await appendFile(used, 'commit record');
  await sync();
  // The segment in use has a lower name than the recycled one: choosing by name would have missed it.
  assert.deepEqual(synced, [used]);

  // PostgreSQL recycles a segment by renaming it to a future name: the new name needs the directory synced.
  synced.length = 0;
  const future = join(dir, 'pg_wal', '000000010000000000000003');
  await rename(recycled, future);
  await sync();
  // (The segment appended to above is synced again too: it was touched in the last 100 ms.)
  assert.deepEqual(
    synced.filter((p) => p !== used),
    [future, walDir],
    'the new name, then its directory',
  );
  await utimes(used, old, old);
  await utimes(future, old, old);
  await sync();
  synced.length = 0;
  await sync();
  assert.deepEqual(synced, [], 'nothing changed since');
});

test('the embedded database syncs through descriptors it keeps open, and closes them with the database', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-pglite-fd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { readdir, readlink } = await import('node:fs/promises');
  const openWal = async (): Promise<number> => {
    let n = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
      if (target.startsWith(join(dir, 'db', 'pg_wal'))) n++;
    }
    return n;
  };
  const db = await openPgliteDatabase(join(dir, 'db'));
  try {
    await db.exec('CREATE TABLE t (v int)');
    for (let i = 0; i < 20; i++) await db.query('INSERT INTO t VALUES ($1)', [i]);
    const during = await openWal();
    assert.ok(
      during >= 2 && during <= 8,
      `a segment and the pg_wal directory stay open, not one per commit (${during})`,
    );
    assert.equal((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).rows[0].n, 20);
  } finally {
    await db.close();
  }
  assert.equal(await openWal(), 0, 'closing the database closes the descriptors');
});

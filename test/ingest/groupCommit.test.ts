import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, Queryable, SqlValue } from '../../server/db/database.ts';
import { InstanceRejectedError, FailureReason } from '../../server/dicom/failure.ts';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { readInstanceHeader } from '../../server/dicom/readHeader.ts';
import { storeInstance, type InstanceSource } from '../../server/ingest/storeInstance.ts';
import { StreamedInstanceFile } from '../../server/ingest/streamedFile.ts';
import type { AppContext } from '../../server/app/context.ts';
import { IndexCommits, type IndexCommitsTuning } from '../../server/ingest/indexCommits.ts';
import { DirectorySyncs } from '../../server/storage/durableWrites.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 8], seed: 5 });

/** Whether a statement's parameters name the UID: as a value, in an array, or as a string in JSON rows. */
const mentions = (params: readonly SqlValue[] | undefined, uid: string): boolean =>
  (params ?? []).some(
    (p) =>
      p === uid ||
      (Array.isArray(p) && (p as unknown[]).includes(uid)) ||
      (typeof p === 'string' && p.includes(JSON.stringify(uid))),
  );

/**
 * The database with a hook on every statement (in a transaction or committing on its own), a count of
 * commits (transactions and statements outside one) and the time of the last successful one.
 */
function instrumented(
  db: Database,
  onQuery: (sql: string, params: readonly SqlValue[] | undefined) => void,
): Database & { commits: number; committedAt: number } {
  const wrapped = {
    ...db,
    commits: 0,
    committedAt: -Infinity,
    async query<R>(sql: string, params?: readonly SqlValue[]) {
      wrapped.commits += 1;
      onQuery(sql, params);
      const r = await db.query<R>(sql, params);
      wrapped.committedAt = performance.now();
      return r;
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      wrapped.commits += 1;
      const r = await db.transaction((tx) =>
        fn({
          query: (sql, params) => {
            onQuery(sql, params);
            return tx.query(sql, params);
          },
          exec: (sql) => tx.exec(sql),
        }),
      );
      wrapped.committedAt = performance.now();
      return r;
    },
  };
  return wrapped as Database & { commits: number; committedAt: number };
}

/** The context with the index written through `db` (an instrumented database) by its own group commit. */
function overDb(deps: AppContext, db: Database, tuning: Partial<IndexCommitsTuning> = {}): AppContext {
  return { ...deps, db, indexCommits: new IndexCommits({ config: deps.config, db, queue: deps.queue }, tuning) };
}

async function tempFiles(deps: AppContext, buffers: Buffer[]): Promise<string[]> {
  const files: string[] = [];
  for (const b of buffers) {
    const f = await deps.storage.staging.newFile();
    await writeFile(f, b);
    files.push(f);
  }
  return files;
}

async function indexedCount(db: Database, series: string): Promise<number> {
  return (
    await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances WHERE series_uid = $1', [series])
  ).rows[0].n;
}

/** A source whose header is ready only when the test says so: a store held under way (or failed) at will. */
function heldSource(file: string): { source: InstanceSource; release(): void; fail(): void } {
  let settle!: (ok: boolean) => void;
  const gate = new Promise<boolean>((resolve) => (settle = resolve));
  return {
    source: {
      file,
      prepare: async (check) => {
        if (!(await gate)) throw new InstanceRejectedError(FailureReason.ProcessingFailure, 'held store failed');
        const header = await readInstanceHeader(file);
        const sizeBytes = (await stat(file)).size;
        check(header, sizeBytes);
        return { header, sizeBytes };
      },
    },
    release: () => settle(true),
    fail: () => settle(false),
  };
}

/**
 * A source whose fsync is held: its header is checked and `whileSyncing` called at once, as a real source
 * does when it hands the fsync to the thread pool; the "fsync" then ends (or fails) when the test says so.
 */
function syncHeldSource(file: string): {
  source: InstanceSource;
  syncing: Promise<void>;
  release(): void;
  fail(): void;
} {
  let settle!: (ok: boolean) => void;
  const gate = new Promise<boolean>((resolve) => (settle = resolve));
  let syncing!: () => void;
  const started = new Promise<void>((resolve) => (syncing = resolve));
  return {
    source: {
      file,
      prepare: async (check, whileSyncing) => {
        const header = await readInstanceHeader(file);
        const sizeBytes = (await stat(file)).size;
        check(header, sizeBytes);
        whileSyncing?.();
        syncing();
        if (!(await gate)) throw new Error('EIO: fsync failed');
        return { header, sizeBytes };
      },
    },
    syncing: started,
    release: () => settle(true),
    fail: () => settle(false),
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (const end = performance.now() + 10_000; !condition(); await new Promise((r) => setTimeout(r, 5))) {
    if (performance.now() > end) assert.fail(`timed out waiting until ${what}`);
  }
}

/** Whether `p` has settled by the time the event loop has had `ms` to run everything else. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

for (const driver of testDatabases()) {
  test(
    `group commit: a store without linger waits for the stores under way and shares their commit, and alone it does not wait (${driver})`,
    { timeout: 60_000 },
    async (t) => {
      await withTestDatabase(driver, t, async (base) => {
        const series = newUid();
        const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: series });
        const db = instrumented(base, () => undefined);
        const plain = await testAppDeps(base, t);
        // Waits as long as a sibling is under way: what follows must not depend on the machine's speed.
        const deps = overDb(plain, db, { siblingWaitMs: 600_000 });
        const files = await tempFiles(deps, slices.slice(0, 7));
        const dimse = { via: 'dimse' as const };

        // Alone (one association): committed at once, not after the wait.
        await storeInstance(deps, { file: files[0] }, dimse);
        assert.equal(db.commits, 1);

        // Another store under way: this one waits for it, then both go in one commit.
        const held = heldSource(files[1]);
        const heldStore = storeInstance(deps, held.source, dimse);
        const waiting = storeInstance(deps, { file: files[2] }, dimse);
        assert.equal(await settledWithin(waiting, 300), false, 'waits while another store is under way');
        assert.equal(db.commits, 1);
        held.release();
        await Promise.all([heldStore, waiting]);
        assert.equal(db.commits, 2, 'one commit for both');

        // The wait is bounded: a store held longer than it does not hold the others back.
        const slow = heldSource(files[3]);
        const shortWait = overDb(plain, db, { siblingWaitMs: 20 });
        const slowStore = storeInstance(shortWait, slow.source, dimse);
        await storeInstance(shortWait, { file: files[4] }, dimse);
        assert.equal(db.commits, 3);
        slow.release();
        await slowStore;
        assert.equal(db.commits, 4);

        // A sibling that fails stops being waited for.
        const failing = heldSource(files[5]);
        const failingStore = storeInstance(deps, failing.source, dimse);
        const survivor = storeInstance(deps, { file: files[6] }, dimse);
        assert.equal(await settledWithin(survivor, 100), false);
        failing.fail();
        await assert.rejects(failingStore, /held store failed/);
        await survivor;
        assert.equal(db.commits, 5);
        assert.equal(await indexedCount(base, series), 6);
        assert.deepEqual(await readdir(deps.storage.staging.dir), [], 'no temp file left behind');
      });
    },
  );

  test(
    `early index: a lone store writes its row while its file syncs, commits it only once the file is in place, and rolls it back when the file never gets there (${driver})`,
    { timeout: 60_000 },
    async (t) => {
      await withTestDatabase(driver, t, async (base) => {
        const study = newUid();
        const series = newUid();
        const elsewhere = newUid();
        const slices = syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: series });
        const indexedSops: string[] = [];
        const db = instrumented(base, (sql, params) => {
          if (!sql.includes('dicom_index_instances')) return;
          for (const p of params ?? [])
            if (typeof p === 'string')
              for (const m of p.matchAll(/"sop_instance_uid":"([0-9.]+)"/g)) indexedSops.push(m[1]);
        });
        const plain = await testAppDeps(base, t);
        const deps = overDb(plain, db);
        const files = await tempFiles(deps, [
          slices[0],
          slices[1],
          syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: elsewhere })[0],
        ]);
        const dimse = { via: 'dimse' as const };
        const sop = async (file: string) => (await readInstanceHeader(file)).sopInstanceUid;

        // The row is written while the fsync runs, and committed only after it (and the rename) are done.
        const first = syncHeldSource(files[0]);
        const firstSop = await sop(files[0]);
        const stored = storeInstance(deps, first.source, dimse);
        await first.syncing;
        await until(() => indexedSops.includes(firstSop), 'the row is written during the fsync');
        assert.equal(await settledWithin(stored, 100), false);
        assert.equal(db.committedAt, -Infinity, 'nothing committed while the file is not durable');
        const releasedAt = performance.now();
        first.release();
        const { path } = await stored;
        assert.ok(db.committedAt > releasedAt, 'committed after the fsync');
        assert.equal((await stat(deps.storage.localPath(path))).size, slices[0].length);
        assert.equal(await indexedCount(base, series), 1);

        // The fsync fails after the row was written: rolled back, the sender gets a failure.
        const second = syncHeldSource(files[1]);
        const secondSop = await sop(files[1]);
        const failing = storeInstance(deps, second.source, dimse);
        await until(() => indexedSops.includes(secondSop), 'the second row is written');
        second.fail();
        await assert.rejects(
          failing,
          (e: unknown) => e instanceof InstanceRejectedError && e.reason === FailureReason.ProcessingFailure,
        );
        assert.equal(await indexedCount(base, series), 1, 'no row for an instance whose file was not synced');

        // The file cannot be moved into place (its series directory cannot be made): no row either.
        await writeFile(join(deps.config.dataDir, 'dicom', study, elsewhere), 'not a directory');
        const thirdSop = await sop(files[2]);
        await assert.rejects(
          storeInstance(deps, { file: files[2] }, dimse),
          (e: unknown) => e instanceof InstanceRejectedError,
        );
        assert.ok(indexedSops.includes(thirdSop), 'its row had been written early');
        assert.equal(await indexedCount(base, elsewhere), 0, 'and was rolled back');
        assert.equal(
          (await base.query('SELECT 1 FROM dicom_series WHERE series_uid = $1', [elsewhere])).rows.length,
          0,
        );
        assert.deepEqual(await readdir(deps.storage.staging.dir), [], 'no temp file left behind');

        // A later store is unaffected.
        const again = await tempFiles(deps, [slices[1]]);
        await storeInstance(deps, { file: again[0] }, dimse);
        assert.equal(await indexedCount(base, series), 2);

        // Stores have overlapped (two associations): a store alone for a moment is not written early, so it
        // does not keep the others out of a shared commit; once they have stopped overlapping, it is again.
        const [a, b, lone, later] = await tempFiles(deps, slices.slice(2, 6));
        const remembering = overDb(plain, db, { overlapMemoryMs: 600_000 });
        const heldA = heldSource(a);
        const both = [storeInstance(remembering, heldA.source, dimse), storeInstance(remembering, { file: b }, dimse)];
        heldA.release();
        await Promise.all(both);
        const loneSource = syncHeldSource(lone);
        const loneSop = await sop(lone);
        const loneStore = storeInstance(remembering, loneSource.source, dimse);
        await loneSource.syncing;
        assert.equal(await settledWithin(loneStore, 100), false);
        assert.ok(!indexedSops.includes(loneSop), 'not written during its fsync');
        loneSource.release();
        await loneStore;
        assert.ok(indexedSops.includes(loneSop), 'written after it');
        const laterSource = syncHeldSource(later);
        const laterSop = await sop(later);
        const laterStore = storeInstance(overDb(plain, db, { overlapMemoryMs: 0 }), laterSource.source, dimse);
        await until(() => indexedSops.includes(laterSop), 'written early again');
        laterSource.release();
        await laterStore;
        assert.equal(await indexedCount(base, series), 6);
      });
    },
  );

  test(`group commit: one bad row fails only its own instance; the rest of the batch is stored and indexed (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (base) => {
      const series = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: series });
      const badUid = `${series}.3`; // the SOP Instance UIDs are <series>.<k>
      const db = instrumented(base, (_sql, params) => {
        if (mentions(params, badUid)) throw new Error('injected index failure');
      });
      const deps = overDb(await testAppDeps(base, t), db);
      const files = await tempFiles(deps, slices);
      // Lingering lets all eight share the first transaction, which then fails as a whole.
      const results = await Promise.allSettled(
        files.map((file) => storeInstance(deps, { file }, { via: 'stow' }, { indexLingerMs: 200 })),
      );

      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(failed.length, 1);
      const reason = (failed[0] as PromiseRejectedResult).reason as InstanceRejectedError;
      assert.ok(reason instanceof InstanceRejectedError);
      assert.equal(reason.reason, FailureReason.ProcessingFailure);
      assert.equal(reason.sopInstanceUid, badUid);
      assert.equal(db.commits, 1 + slices.length, 'one shared commit, then one per instance after it failed');
      assert.equal(await indexedCount(base, series), slices.length - 1);
      for (const r of results) {
        if (r.status !== 'fulfilled') continue;
        const bytes = await readFile(deps.storage.localPath(r.value.path));
        assert.equal(bytes.length, r.value.sizeBytes);
      }
      assert.deepEqual(await readdir(deps.storage.staging.dir), [], 'no temp file left behind');
    });
  });

  test(`group commit: when the database fails mid-batch nothing is acknowledged, and nothing resolves before its commit (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (base) => {
      const series = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: series });
      let broken = true;
      const db = instrumented(base, (sql) => {
        // The database "crashes" at the series' quiet-period push, after the batch's index statement ran in
        // the same transaction (a new series' first batch always pushes).
        if (broken && sql.includes('INSERT INTO jobs')) throw new Error('connection terminated');
      });
      const deps = overDb(await testAppDeps(base, t), db);
      const files = await tempFiles(deps, slices);
      const results = await Promise.allSettled(
        files.map((file) => storeInstance(deps, { file }, { via: 'stow' }, { indexLingerMs: 200 })),
      );
      assert.ok(
        results.every((r) => r.status === 'rejected'),
        'no instance acknowledged',
      );
      assert.equal(await indexedCount(base, series), 0, 'rolled back: no index row');
      assert.equal((await base.query('SELECT 1 FROM dicom_series WHERE series_uid = $1', [series])).rows.length, 0);

      // Healthy again: every caller resolves only after the commit holding its row.
      broken = false;
      const files2 = await tempFiles(deps, slices);
      const resolvedAt: number[] = [];
      await Promise.all(
        files2.map((file) =>
          storeInstance(deps, { file }, { via: 'stow' }, { indexLingerMs: 200 }).then(() =>
            resolvedAt.push(performance.now()),
          ),
        ),
      );
      assert.equal(resolvedAt.length, slices.length);
      assert.ok(resolvedAt.every((at) => at >= db.committedAt));
      assert.equal(await indexedCount(base, series), slices.length);
    });
  });
}

test('group commit: the same instance twice in one batch is indexed once, the second copy replacing the first', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const series = newUid();
    const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: series });
    const files = await tempFiles(deps, [slices[0], slices[1], slices[0]]);
    const stored = await Promise.all(
      files.map((file) => storeInstance(deps, { file }, { via: 'stow' }, { indexLingerMs: 100 })),
    );
    assert.equal(await indexedCount(db, series), 2);
    assert.equal(stored.filter((s) => s.replaced).length, 1, 'the later copy sees the earlier one');
  });
});

test('streamed instance file: written in batches with the preamble zeroed, header parsed from memory, fsynced', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const slice = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: newUid() })[0];
    // Chunks of every awkward size: inside the preamble, across its end, tiny and large.
    const cuts = [1, 7, 127, 128, 129, 130, 1000, 4096, slice.length];
    const part = await StreamedInstanceFile.create(deps.storage.staging);
    let at = 0;
    for (const cut of cuts) {
      const end = Math.min(cut, slice.length);
      if (end > at) await part.write(Buffer.from(slice.subarray(at, end)));
      at = Math.max(at, end);
    }
    assert.equal(part.bytes, slice.length);
    let checked = '';
    let checkedSize = 0;
    let syncing = 0;
    const { header, sizeBytes } = await part.prepare(
      (h, size) => {
        checked = h.sopInstanceUid;
        checkedSize = size;
      },
      () => syncing++,
    );
    assert.equal(sizeBytes, slice.length);
    assert.equal(checked, header.sopInstanceUid);
    assert.equal(checkedSize, slice.length, 'the check sees the whole size');
    assert.equal(syncing, 1, 'told once that the fsync is under way');
    const onDisk = await readFile(part.file);
    assert.ok(onDisk.subarray(0, 128).equals(Buffer.alloc(128)), 'preamble stored as zeros');
    assert.ok(onDisk.subarray(128).equals(slice.subarray(128)), 'the rest byte for byte');

    // A rejected header: the check throws before any fsync and the caller gets the rejection.
    const other = await StreamedInstanceFile.create(deps.storage.staging);
    await other.write(Buffer.from(slice));
    await assert.rejects(
      other.prepare(
        () => {
          throw new InstanceRejectedError(FailureReason.StudyInstanceUidMismatch, 'wrong study');
        },
        () => syncing++,
      ),
      /wrong study/,
    );
    assert.equal(syncing, 1, 'a rejected header is never synced');
    await other.discard();
    await assert.rejects(stat(other.file), { code: 'ENOENT' });
  });
});

test('directory fsyncs are shared by concurrent callers, each covered by one that started after its call', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const dir = join(deps.config.dataDir, 'dicom');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    const syncs = new DirectorySyncs();
    const calls = Array.from({ length: 50 }, () => syncs.sync(dir));
    // All but the first share at most one further fsync: at most two distinct promises.
    assert.ok(new Set(calls).size <= 2);
    await Promise.all(calls);
    // A call after they settled starts a new fsync.
    const later = syncs.sync(dir);
    assert.ok(!calls.includes(later));
    await later;
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { inOtherSeries, makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import type { AppContext } from '../../server/app/context.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import { storeInstance, type StoredInstance } from '../../server/ingest/storeInstance.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import type { TaskHelpers } from '../../server/jobs/task.ts';
import { silentLogger } from '../../server/log.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import { listResults } from '../../server/results/readResults.ts';
import { createProcessJobForSeries } from '../../server/series/processJobForSeries.ts';

const ct = makeSyntheticCt({ dims: [48, 48, 8], spacing: [7, 7, 20], seed: 31 });

async function store(deps: AppContext, data: Buffer): Promise<StoredInstance> {
  const file = await deps.storage.staging.newFile();
  await writeFile(file, data);
  return await storeInstance(deps, { file }, { via: 'stow' });
}

/** The same instance with other pixel values (the last byte of Pixel Data, which ends the data set). */
function withOtherPixels(slice: Buffer): Buffer {
  const out = Buffer.from(slice);
  out[out.length - 1] ^= 0x01;
  return out;
}

async function count(deps: AppContext, sql: string, params: string[] = []): Promise<number> {
  return (await deps.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0].n;
}

async function runJob(deps: AppContext, jobId: string): Promise<void> {
  const job = await deps.queue.get(jobId);
  assert.ok(job);
  const helpers: TaskHelpers = {
    db: deps.db,
    signal: new AbortController().signal,
    progress: async () => {},
    setEngine: async () => {},
    log: () => {},
    logger: silentLogger(),
  };
  const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
  await task(
    { id: job.id, kind: 'process', payload: job.payload as unknown as ProcessPayload, attempt: 1, maxAttempts: 3 },
    helpers,
  );
  await deps.db.query("UPDATE jobs SET state = 'succeeded' WHERE id = $1", [job.id]);
}

for (const driver of testDatabases()) {
  test(`a series sent again unchanged after its job makes no second job and its copies go; a changed one makes a new job (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const seriesUid = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { seriesUid });
      for (const s of slices) await store(deps, s);
      const first = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(first.created);
      await runJob(deps, first.jobId);
      assert.equal(await count(deps, 'dicom_instances'), 0, 'the job deleted its inputs');

      // The same series again (inputs were deleted, so each copy is stored and indexed anew).
      for (const s of slices) assert.equal((await store(deps, s)).alreadyStored, undefined);
      const again = await createProcessJobForSeries(deps, seriesUid);
      assert.equal(again.created, false);
      assert.ok(!again.created);
      assert.match(again.reason, new RegExp(`sent again unchanged: job ${first.jobId} \\(succeeded\\)`));
      assert.equal(again.resentDeleted, slices.length);
      assert.equal(await count(deps, "jobs WHERE kind = 'process'"), 1);
      assert.equal((await listResults(db)).length, 1, 'one result');
      assert.equal(await count(deps, 'dicom_instances'), 0, 'the copies sent again are deleted as the job would');
      assert.equal(await count(deps, 'dicom_series'), 0, 'and the patient rows with them');

      // Changed content (one slice's pixels): a new job.
      for (const [i, s] of slices.entries()) await store(deps, i === 3 ? withOtherPixels(s) : s);
      const changed = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(changed.created, 'a changed series is processed again');
      assert.equal(changed.files, slices.length);
      await runJob(deps, changed.jobId);

      // Its result deleted: the same images are processed again rather than leaving nothing.
      await db.query('DELETE FROM results');
      for (const [i, s] of slices.entries()) await store(deps, i === 3 ? withOtherPixels(s) : s);
      assert.ok((await createProcessJobForSeries(deps, seriesUid)).created, 'no result stands: a new job');
    });
  });

  test(`the first copy of an instance stays: same bytes are discarded, other bytes are not kept, nor a move to another series (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { KEEP_INPUTS: 'true' });
      const seriesUid = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { seriesUid });
      const paths: string[] = [];
      for (const s of slices) paths.push((await store(deps, s)).path);
      const created = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(created.created);
      const revision = async (): Promise<number> =>
        (await db.query<{ revision: number }>('SELECT revision FROM dicom_series WHERE series_uid = $1', [seriesUid]))
          .rows[0].revision;
      const before = await revision();

      // While its job waits, the series comes again: nothing changes and no job is made.
      const same = await store(deps, slices[0]);
      assert.equal(same.alreadyStored, 'identical');
      assert.equal(same.replaced, false);
      const other = await store(deps, withOtherPixels(slices[1]));
      assert.equal(other.alreadyStored, 'different');
      assert.deepEqual(
        (await readFile(join(deps.dataDir, paths[1]))).subarray(128),
        slices[1].subarray(128),
        'the stored file is still the first copy',
      );
      assert.equal(await revision(), before, 'the series has no new revision');
      const outcome = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(!outcome.created);
      assert.match(outcome.reason, /no new instances/);

      // The same SOP Instance UID under another series: it stays where it was first stored.
      const otherSeries = seriesUid.slice(0, -1) + (seriesUid.endsWith('9') ? '8' : '9');
      const elsewhere = await store(deps, inOtherSeries(slices[0], seriesUid, otherSeries));
      assert.equal(elsewhere.alreadyStored, 'different');
      assert.equal(elsewhere.replaced, false);
      const sop = `${seriesUid}.1`;
      assert.equal(
        await count(deps, 'dicom_instances WHERE sop_instance_uid = $1 AND series_uid = $2', [sop, seriesUid]),
        1,
      );
      assert.equal(await count(deps, 'dicom_series'), 1, 'no row for the other series');
      assert.equal(await count(deps, 'dicom_instances WHERE path = $1', [elsewhere.path]), 0);
      assert.equal(await revision(), before);
    });
  });

  test(`an image file gone missing before grouping still makes the job, whose reader reports it (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const seriesUid = newUid();
      const paths: string[] = [];
      for (const s of syntheticDicomSliceBuffers(ct, { seriesUid })) paths.push((await store(deps, s)).path);
      await rm(join(deps.dataDir, paths[2]));
      const outcome = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(outcome.created, JSON.stringify(outcome));
      assert.equal(await count(deps, 'series_digests'), 0, 'no digest of images that could not be read');
    });
  });
}

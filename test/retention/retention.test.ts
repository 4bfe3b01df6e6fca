import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import type { AppContext } from '../../server/app/context.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { createProcessJobForSeries } from '../../server/series/processJobForSeries.ts';
import { storeInstance } from '../../server/ingest/storeInstance.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import type { TaskHelpers } from '../../server/jobs/task.ts';
import { silentLogger } from '../../server/log.ts';
import { listResults } from '../../server/results/readResults.ts';
import { recordResult } from '../../server/results/resultsStore.ts';
import { deleteSeriesInputs, inputIdentities } from '../../server/retention/inputs.ts';
import { sweepRetentionTask } from '../../server/retention/sweepRetention.ts';

function helpers(deps: AppContext, log: string[] = []): TaskHelpers {
  return {
    db: deps.db,
    signal: new AbortController().signal,
    progress: async () => {},
    setEngine: async () => {},
    log: (l) => void log.push(l),
    logger: silentLogger(),
  };
}

async function store(deps: AppContext, data: Buffer): Promise<string> {
  const file = await deps.storage.staging.newFile();
  await writeFile(file, data);
  return (await storeInstance(deps, { file }, { via: 'stow' })).path;
}

async function count(deps: AppContext, table: string): Promise<number> {
  return (await deps.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
}

const ct = makeSyntheticCt({ dims: [48, 48, 12], spacing: [7, 7, 20], seed: 21 });

for (const driver of testDatabases()) {
  test(`a processed series' instances, index rows and patient rows are deleted; one sent again meanwhile (OVERWRITE_INSTANCES) stays (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { OVERWRITE_INSTANCES: 'true' });
      const seriesUid = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { seriesUid });
      const paths: string[] = [];
      for (const s of slices) paths.push(await store(deps, s));
      const created = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(created.created);
      // Slice 3 arrives again after the job was made (a resend): a newer file and a newer row at the same path.
      await new Promise((r) => setTimeout(r, 20));
      const resent = Buffer.from(slices[2]);
      assert.equal(await store(deps, resent), paths[2]);

      const job = await deps.queue.get(created.jobId);
      assert.ok(job);
      const log: string[] = [];
      const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
      await task(
        { id: job.id, kind: 'process', payload: job.payload as unknown as ProcessPayload, attempt: 1, maxAttempts: 3 },
        helpers(deps, log),
      );

      assert.equal((await listResults(db)).length, 1);
      for (const [i, p] of paths.entries()) assert.equal(existsSync(join(deps.dataDir, p)), i === 2, p);
      assert.equal(await count(deps, 'dicom_instances'), 1, 'only the resent instance keeps its row');
      assert.equal(await count(deps, 'dicom_series'), 1);
      assert.equal(await count(deps, 'dicom_studies'), 1);
      assert.ok(
        log.some((l) => /^inputs deleted: 11 DICOM file\(s\), 11 index row\(s\)$/.test(l)),
        log.join('\n'),
      );

      // The follow-up job for the resent instance deletes it and then the series and study rows (patient data).
      const again = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(again.created);
      const job2 = await deps.queue.get(again.jobId);
      assert.ok(job2);
      // One instance is not a volume the engine can segment; delete directly as the task would after success.
      const d = await deleteSeriesInputs(deps, job2.id, [paths[2]], await inputIdentities(deps.storage, [paths[2]]));
      assert.deepEqual(d, { files: 1, indexRows: 1, keptNewer: 0 });
      assert.equal(await count(deps, 'dicom_series'), 0);
      assert.equal(await count(deps, 'dicom_studies'), 0);
    });
  });

  test(`a file replaced while its job ran is kept, its old row goes (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const seriesUid = newUid();
      const [first] = syntheticDicomSliceBuffers(ct, { seriesUid });
      const rel = await store(deps, first);
      const created = await createProcessJobForSeries(deps, seriesUid);
      assert.ok(created.created);
      const abs = join(deps.dataDir, rel);
      const read = await inputIdentities(deps.storage, [rel]);
      // A newer copy renamed into place, its index row not yet committed (storage renames before indexing).
      const newer = join(deps.dataDir, 'newer.dcm');
      await writeFile(newer, first);
      await rename(newer, abs);
      const d = await deleteSeriesInputs(deps, created.jobId, [rel], read);
      assert.deepEqual(d, { files: 0, indexRows: 1, keptNewer: 1 });
      assert.deepEqual(await readFile(abs), first);
    });
  });

  test(`KEEP_INPUTS=true keeps a series' inputs; without it they go, and a re-run after the deletion still succeeds (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      for (const keep of [true, false]) {
        const deps = await testAppDeps(db, t, { KEEP_INPUTS: String(keep) });
        const seriesUid = newUid();
        const paths: string[] = [];
        for (const s of syntheticDicomSliceBuffers(ct, { seriesUid })) paths.push(await store(deps, s));
        const created = await createProcessJobForSeries(deps, seriesUid);
        assert.ok(created.created);
        const job = await deps.queue.get(created.jobId);
        assert.ok(job);
        const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
        await task(
          {
            id: job.id,
            kind: 'process',
            payload: job.payload as unknown as ProcessPayload,
            attempt: 1,
            maxAttempts: 3,
          },
          helpers(deps),
        );
        assert.equal(
          paths.every((p) => existsSync(join(deps.dataDir, p))),
          keep,
        );
        assert.equal(
          paths.some((p) => existsSync(join(deps.dataDir, p))),
          keep,
        );
        // A crash after deletion but before the job was marked done: the re-run finds its result and ends well.
        if (!keep)
          await task(
            {
              id: job.id,
              kind: 'process',
              payload: job.payload as unknown as ProcessPayload,
              attempt: 2,
              maxAttempts: 3,
            },
            helpers(deps),
          );
        await db.query('DELETE FROM results');
      }
    });
  });

  test(`the retention sweep removes expired results (folder and row), keeps the rest and re-arms itself (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const ids = [
        '0b0e6c1e-0000-4000-8000-000000000001',
        '0b0e6c1e-0000-4000-8000-000000000002',
        '0b0e6c1e-0000-4000-8000-000000000003',
      ];
      for (const [i, id] of ids.entries()) {
        const job = await deps.queue.add('process', {
          name: `r${i}`,
          input: { kind: 'volume-file', file: `volumes/${i}.nii` },
        });
        await recordResult(db, {
          id,
          jobId: job.id,
          name: `r${i}`,
          engine: 'builtin',
          source: {},
          segments: [],
          files: [{ name: 'a.glb', size: 1 }],
          retentionDays: i === 2 ? 0 : 30,
        });
        await mkdir(join(deps.dataDir, 'results', id), { recursive: true });
        await writeFile(join(deps.dataDir, 'results', id, 'a.glb'), 'x');
      }
      await db.query(`UPDATE results SET expires_at = now() - interval '1 minute' WHERE id = $1`, [ids[0]]);
      const sweep = await deps.queue.add('sweep-retention', {});
      const log: string[] = [];
      await sweepRetentionTask(deps)(
        { id: sweep.id, kind: 'sweep-retention', payload: {}, attempt: 1, maxAttempts: 3 },
        helpers(deps, log),
      );
      assert.deepEqual((await listResults(db)).map((r) => r.id).sort(), ids.slice(1));
      assert.equal(existsSync(join(deps.dataDir, 'results', ids[0])), false);
      assert.equal(existsSync(join(deps.dataDir, 'results', ids[1], 'a.glb')), true);
      assert.deepEqual(log, [
        'retention: 1 expired result(s) removed',
        'retention: inputs of 0 unprocessed or failed series (0 instances) and 0 volume file(s) removed',
      ]);
      const next = await db.query<{ run_after: Date }>(
        `SELECT run_after FROM jobs WHERE kind = $1 AND state = 'queued' AND job_key IS NOT NULL`,
        ['sweep-retention'],
      );
      assert.equal(next.rowCount, 1);
      const inMs = next.rows[0].run_after.getTime() - Date.now();
      assert.ok(inMs > 50 * 60_000 && inMs <= 61 * 60_000, `next sweep in ${inMs} ms`);
    });
  });
}

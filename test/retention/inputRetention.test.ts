import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import type { AppContext } from '../../server/app/context.ts';
import { storeInstance } from '../../server/ingest/storeInstance.ts';
import { createProcessJobForSeries } from '../../server/series/processJobForSeries.ts';
import { sweepRetentionTask } from '../../server/retention/sweepRetention.ts';
import { silentLogger } from '../../server/log.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 3], seed: 33 });

async function storeSeries(deps: AppContext): Promise<{ seriesUid: string; paths: string[] }> {
  const seriesUid = newUid();
  const paths: string[] = [];
  for (const slice of syntheticDicomSliceBuffers(ct, { seriesUid })) {
    const file = await deps.storage.staging.newFile();
    await writeFile(file, slice);
    paths.push((await storeInstance(deps, { file }, { via: 'stow' })).path);
  }
  return { seriesUid, paths };
}

/** As if the series had arrived `days` ago. */
async function age(deps: AppContext, seriesUid: string, days: number): Promise<void> {
  const at = new Date(Date.now() - days * 86_400_000);
  await deps.db.query('UPDATE dicom_series SET last_instance_at = $2 WHERE series_uid = $1', [seriesUid, at]);
  await deps.db.query('UPDATE dicom_instances SET received_at = $2 WHERE series_uid = $1', [seriesUid, at]);
}

for (const driver of testDatabases()) {
  test(`INPUT_RETENTION_DAYS: inputs of failed and never-processed series and volumes of failed jobs go; queued, recent and kept ones stay (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { INPUT_RETENTION_DAYS: '7', KEEP_INPUTS: 'true' });

      const never = await storeSeries(deps);
      await age(deps, never.seriesUid, 10);
      const failed = await storeSeries(deps);
      const failedJob = await createProcessJobForSeries(deps, failed.seriesUid);
      assert.ok(failedJob.created);
      await db.query(`UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = $1`, [failedJob.jobId]);
      await age(deps, failed.seriesUid, 10);
      const queued = await storeSeries(deps);
      assert.ok((await createProcessJobForSeries(deps, queued.seriesUid)).created);
      await age(deps, queued.seriesUid, 10);
      const succeeded = await storeSeries(deps);
      const okJob = await createProcessJobForSeries(deps, succeeded.seriesUid);
      assert.ok(okJob.created);
      await db.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [okJob.jobId]);
      await db.query('UPDATE dicom_series SET processed_revision = revision WHERE series_uid = $1', [
        succeeded.seriesUid,
      ]);
      await age(deps, succeeded.seriesUid, 10);
      const recent = await storeSeries(deps);
      await age(deps, recent.seriesUid, 2);

      // An uploaded volume whose job failed 10 days ago, and one whose job failed yesterday.
      const volume = async (daysAgo: number): Promise<string> => {
        const key = `volumes/${newUid()}.nii.gz`;
        await mkdir(dirname(join(deps.dataDir, key)), { recursive: true });
        await writeFile(join(deps.dataDir, key), 'nifti bytes');
        const job = await deps.queue.add('process', {
          name: 'upload',
          input: { kind: 'volume-file', file: key, originalName: 'Doe_Jane.nii.gz' },
        });
        await db.query(
          `UPDATE jobs SET state = 'failed', finished_at = now() - make_interval(days => $2) WHERE id = $1`,
          [job.id, daysAgo],
        );
        return key;
      };
      const oldVolume = await volume(10);
      const newVolume = await volume(1);

      const log: string[] = [];
      await sweepRetentionTask(deps)(
        { id: 'sweep', kind: 'sweep-retention', payload: {}, attempt: 1, maxAttempts: 3 },
        {
          db,
          signal: new AbortController().signal,
          progress: async () => {},
          setEngine: async () => {},
          log: (l) => void log.push(l),
          logger: silentLogger(),
        },
      );

      const present = (paths: string[]): boolean[] => paths.map((p) => existsSync(join(deps.dataDir, p)));
      assert.deepEqual(present(never.paths), [false, false, false], 'never processed, past retention');
      assert.deepEqual(present(failed.paths), [false, false, false], 'failed, past retention');
      assert.deepEqual(present(queued.paths), [true, true, true], 'a queued job still needs them');
      assert.deepEqual(present(succeeded.paths), [true, true, true], 'processed, kept (KEEP_INPUTS)');
      assert.deepEqual(present(recent.paths), [true, true, true], 'within the retention');
      assert.equal(existsSync(join(deps.dataDir, oldVolume)), false);
      assert.equal(existsSync(join(deps.dataDir, newVolume)), true);
      const series = await db.query<{ series_uid: string }>('SELECT series_uid FROM dicom_series');
      assert.deepEqual(
        series.rows.map((r) => r.series_uid).sort(),
        [queued.seriesUid, succeeded.seriesUid, recent.seriesUid].sort(),
        'the series rows (patient data) of removed inputs are gone too',
      );
      assert.ok(
        log.some((l) =>
          /inputs of 2 unprocessed or failed series \(6 instances\) and 1 volume file\(s\) removed/.test(l),
        ),
        log.join('\n'),
      );
    });
  });
}

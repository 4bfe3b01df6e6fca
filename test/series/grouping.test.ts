import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { Queue } from '../../server/jobs/queue.ts';
import type { TaskHelpers, TaskJob } from '../../server/jobs/task.ts';
import { silentLogger } from '../../server/log.ts';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { inOtherSeries, makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { storeInstance } from '../../server/ingest/storeInstance.ts';
import type { ProcessPayload, SeriesStablePayload } from '../../server/jobs/kinds.ts';
import { createProcessJobForSeries } from '../../server/series/processJobForSeries.ts';
import { seriesStableTask } from '../../server/series/seriesStableTask.ts';
import { SeriesStablePushes } from '../../server/series/seriesStableTimer.ts';
import type { AppContext } from '../../server/app/context.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 4], seed: 11 });

async function store(deps: AppContext, data: Buffer): Promise<void> {
  const file = await deps.storage.staging.newFile();
  await writeFile(file, data);
  await storeInstance(deps, { file }, { via: 'dimse', callingAet: 'MODALITY1', remoteAddress: '127.0.0.1' });
}

async function revisions(deps: AppContext, series: string): Promise<{ revision: number; processed_revision: number }> {
  return (
    await deps.db.query<{ revision: number; processed_revision: number }>(
      'SELECT revision, processed_revision FROM dicom_series WHERE series_uid = $1',
      [series],
    )
  ).rows[0];
}

function helpers(deps: AppContext, lines: string[]): TaskHelpers {
  return {
    db: deps.db,
    signal: new AbortController().signal,
    progress: async () => {},
    setEngine: async () => {},
    log: (l) => void lines.push(l),
    logger: silentLogger(),
  };
}

async function runDueSeriesStable(deps: AppContext, lines: string[]): Promise<number> {
  let ran = 0;
  for (;;) {
    const job = await deps.queue.claim('test-worker', ['series-stable'], 30);
    if (!job) return ran;
    await seriesStableTask(deps)(job as unknown as TaskJob<SeriesStablePayload>, helpers(deps, lines));
    await deps.queue.complete(job.id, 'test-worker');
    ran += 1;
  }
}

async function processJobs(deps: AppContext): Promise<ProcessPayload[]> {
  const r = await deps.db.query<{ payload: ProcessPayload }>(
    `SELECT payload FROM jobs WHERE kind = $1 ORDER BY created_at`,
    ['process'],
  );
  return r.rows.map((x) => x.payload);
}

test('quiet-period pushes: once per interval per series, only counted once committed, every time with no quiet period', () => {
  const pushes = new SeriesStablePushes(10);
  assert.equal(pushes.slackMs, 1000, 'a tenth of 10 s, at most a second');
  assert.deepEqual(pushes.due(['a', 'b'], 0), ['a', 'b'], 'never pushed: due');
  assert.deepEqual(pushes.due(['a'], 10), ['a'], 'not recorded (its transaction did not commit): still due');
  pushes.pushed(['a'], 10);
  assert.deepEqual(pushes.due(['a', 'b'], 500), ['b']);
  assert.deepEqual(pushes.due(['a'], 1010), ['a'], 'due again a whole interval later');
  assert.equal(new SeriesStablePushes(60).slackMs, 1000);
  const none = new SeriesStablePushes(0);
  none.pushed(['a'], 0);
  assert.deepEqual(none.due(['a'], 0), ['a'], 'SERIES_STABLE_SECONDS=0: every instance pushes');
});

for (const driver of testDatabases()) {
  test(`a series becomes one process job after its quiet period, survives a restart, and re-runs only when changed (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { SERIES_STABLE_SECONDS: '1' });
      const series = newUid();
      const study = newUid();
      const slices = syntheticDicomSliceBuffers(ct, {
        studyUid: study,
        seriesUid: series,
        seriesDescription: 'Thorax 1.0 B31f',
      });
      await store(deps, slices[0]);
      const first = (
        await db.query<{ id: string; run_after: Date }>(
          `SELECT id, run_after FROM jobs WHERE kind = $1 AND state = 'queued'`,
          ['series-stable'],
        )
      ).rows;
      assert.equal(first.length, 1);
      // The timer is pushed at most once per tenth of the quiet period (100 ms here), each push that
      // much further out: whichever instances pushed it, it is due no sooner than 1 s after the last.
      await new Promise((r) => setTimeout(r, 150));
      await store(deps, slices[1]);
      const second = (
        await db.query<{ id: string; run_after: Date }>(
          `SELECT id, run_after FROM jobs WHERE kind = $1 AND state = 'queued'`,
          ['series-stable'],
        )
      ).rows;
      assert.ok(
        second[0].run_after.getTime() > first[0].run_after.getTime(),
        'an instance after the push interval pushes the timer later',
      );
      const lastStored = Date.now();
      await store(deps, slices[2]);
      const pushed = (
        await db.query<{ id: string; run_after: Date }>(
          `SELECT id, run_after FROM jobs WHERE kind = $1 AND state = 'queued'`,
          ['series-stable'],
        )
      ).rows;
      assert.equal(pushed.length, 1, 'still one timer job');
      assert.equal(pushed[0].id, first[0].id);
      assert.ok(
        pushed[0].run_after.getTime() >= lastStored + 1000,
        `due ${pushed[0].run_after.getTime() - lastStored} ms after the last instance was sent`,
      );
      assert.equal(await runDueSeriesStable(deps, []), 0, 'not due before the quiet period');

      // "Restart": fresh queue and deps over the same database; the timer is a row, not an in-memory timer.
      const restarted: AppContext = { ...deps, queue: new Queue(db) };
      await new Promise((r) => setTimeout(r, 1300));
      const lines: string[] = [];
      assert.equal(await runDueSeriesStable(restarted, lines), 1);
      let jobs = await processJobs(restarted);
      assert.equal(jobs.length, 1, lines.join('\n'));
      const input = jobs[0].input;
      assert.equal(input.kind, 'dicom-series');
      if (input.kind !== 'dicom-series') return;
      assert.equal(input.seriesInstanceUid, series);
      assert.equal(input.studyInstanceUid, study);
      assert.equal(input.seriesDescription, 'Thorax 1.0 B31f');
      assert.deepEqual(
        input.files,
        [1, 2, 3].map((k) => `dicom/${study}/${series}/${series}.${k}.dcm`),
      );
      assert.match(jobs[0].name, /^CT_Thorax_1\.0_B31f-\d{8}$/);

      // A late instance re-arms the timer and yields a job for the updated series; a re-sent one too.
      await store(restarted, slices[3]);
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal(await runDueSeriesStable(restarted, lines), 1);
      jobs = await processJobs(restarted);
      assert.equal(jobs.length, 2);
      assert.equal(jobs[1].input.kind === 'dicom-series' && jobs[1].input.files.length, 4);

      // Nothing changed: a stray timer run makes no job.
      await restarted.queue.add('series-stable', { seriesInstanceUid: series });
      assert.equal(await runDueSeriesStable(restarted, lines), 1);
      assert.equal((await processJobs(restarted)).length, 2);
      assert.match(lines.at(-1) ?? '', /no new instances/);
    });
  });
}

for (const driver of testDatabases()) {
  test(`with OVERWRITE_INSTANCES, an instance re-sent under another series moves there: its old series changes and loses its file (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { OVERWRITE_INSTANCES: 'true' });
      const study = newUid();
      const from = newUid();
      const to = from.slice(0, -1) + (from.endsWith('9') ? '8' : '9');
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: from });
      await store(deps, slices[0]);
      await store(deps, slices[1]);
      assert.equal((await createProcessJobForSeries(deps, from)).created, true);
      const before = await revisions(deps, from);
      assert.equal(before.revision, before.processed_revision);

      // One batch: slice 1 moves away from the series while slice 3 joins it. The series is written once.
      const batch = [inOtherSeries(slices[0], from, to), slices[2]];
      const files: string[] = [];
      for (const b of batch) {
        const f = await deps.storage.staging.newFile();
        await writeFile(f, b);
        files.push(f);
      }
      const stored = await Promise.all(
        files.map((file) => storeInstance(deps, { file }, { via: 'stow' }, { indexLingerMs: 200 })),
      );
      assert.equal(stored[0].replaced, true);
      assert.equal(stored[0].path, `dicom/${study}/${to}/${from}.1.dcm`);
      assert.equal((await revisions(deps, from)).revision, before.revision + 1);
      await assert.rejects(stat(deps.storage.localPath(`dicom/${study}/${from}/${from}.1.dcm`)), {
        code: 'ENOENT',
      });

      // Alone: slice 2 moves; only the move changes the series it left.
      assert.equal((await createProcessJobForSeries(deps, from)).created, true);
      const settled = await revisions(deps, from);
      await store(deps, inOtherSeries(slices[1], from, to));
      const after = await revisions(deps, from);
      assert.equal(after.revision, settled.revision + 1, 'the series that lost an instance has a new revision');
      const outcome = await createProcessJobForSeries(deps, from);
      assert.equal(outcome.created && outcome.files, 1, 'its next job lists only the instance left in it');
      const rows = (
        await db.query<{ series_uid: string; n: number }>(
          'SELECT series_uid, count(*)::int AS n FROM dicom_instances WHERE study_uid = $1 GROUP BY series_uid ORDER BY series_uid',
          [study],
        )
      ).rows;
      assert.deepEqual(
        rows.map((r) => [r.series_uid, r.n]),
        [
          [from, 1],
          [to, 2],
        ].sort(),
      );
    });
  });
}

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Database } from '../../server/db/database.ts';
import type { AppContext } from '../../server/app/context.ts';
import type { ChosenEngine } from '../../server/engines/engine.ts';
import type { Job } from '../../server/jobs/queue.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { unfinishedRetrieveOf } from '../../server/series/pendingRetrieve.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

/**
 * A PACS that sends a series slower than SERIES_STABLE_SECONDS per instance must not get a partial
 * series processed: grouping waits for the retrieve job, also across a retry after the node broke
 * the transfer off half-way.
 */

const SLICES = 6;
const GAP_MS = 1600;

interface SlowNode {
  url: string;
  /** Retrieve requests seen so far. */
  requests: number;
}

type BreakOff = 'never' | 'first' | 'always';

/** A DICOMweb node whose WADO-RS sends one instance every GAP_MS, dropping the first (or every) transfer half-way. */
async function startSlowNode(
  t: TestContext,
  study: string,
  series: string,
  parts: Buffer[],
  breakOff: BreakOff,
): Promise<SlowNode> {
  const state: SlowNode = { url: '', requests: 0 };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === `/dicom-web/studies/${study}/series`) {
      res.writeHead(200, { 'Content-Type': 'application/dicom+json' });
      res.end(
        JSON.stringify([
          { '0020000E': { vr: 'UI', Value: [series] }, '00201209': { vr: 'IS', Value: [parts.length] } },
        ]),
      );
      return;
    }
    if (path === `/dicom-web/studies/${study}/series/${series}`) {
      state.requests += 1;
      void send(res, breakOff === 'always' || (breakOff === 'first' && state.requests === 1));
      return;
    }
    res.writeHead(404).end();
  });
  async function send(res: ServerResponse, breakOff: boolean): Promise<void> {
    const boundary = 'slow-boundary';
    res.writeHead(200, { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` });
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, GAP_MS));
      if (breakOff && i === parts.length / 2) {
        res.socket?.destroy();
        return;
      }
      res.write(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${parts[i].length}\r\n\r\n`);
      res.write(parts[i]);
      res.write('\r\n');
    }
    res.end(`--${boundary}--\r\n`);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dicom-web`;
  return state;
}

/** The worker runs grouping and retrieval only: what matters here is when the process job is made. */
function startWorker(t: TestContext, db: Database, deps: AppContext & { engine: ChosenEngine }): void {
  const all = taskList(deps);
  const tasks = { 'series-stable': all['series-stable'], 'pacs-retrieve': all['pacs-retrieve'] };
  const worker = new Worker({ db, queue: deps.queue, tasks, logger: deps.logger, concurrency: 2, pollIntervalMs: 100 });
  void worker.start();
  t.after(() => worker.stop(2000));
}

async function processJobs(deps: AppContext): Promise<Job[]> {
  return deps.queue.list({ kinds: ['process'] });
}

for (const breakFirst of [false, true]) {
  const name = breakFirst
    ? 'a slow PACS retrieve broken off half-way and retried: the series is processed once, whole, after the retry'
    : 'a PACS retrieve slower than SERIES_STABLE_SECONDS per instance: the series is processed once, whole, after the retrieve';
  test(name, async (t) => {
    const study = newUid();
    const series = newUid();
    const parts = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [24, 24, SLICES], seed: 3 }), {
      studyUid: study,
      seriesUid: series,
    });
    const node = await startSlowNode(t, study, series, parts, breakFirst ? 'first' : 'never');
    await withTestDatabase('pglite', t, async (db) => {
      const nodes = [{ name: 'slow', dicomweb: { url: node.url } }];
      const deps = await testAppDeps(db, t, { SERIES_STABLE_SECONDS: '1', PACS_NODES: JSON.stringify(nodes) });
      startWorker(t, db, deps);
      const retrieve = await deps.queue.add(
        'pacs-retrieve',
        { node: 'slow', studyInstanceUid: study, seriesInstanceUid: series },
        { maxAttempts: 3 },
      );

      // While instances trickle in, each quiet second ends in a series-stable run that must wait.
      let sawPartial = false;
      let job: Job | undefined;
      while (!job) {
        const j = await deps.queue.get(retrieve.id);
        if (j && (j.state === 'succeeded' || j.state === 'failed')) job = j;
        const stored = (
          await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances WHERE series_uid = $1', [
            series,
          ])
        ).rows[0].n;
        if (stored > 0 && stored < SLICES) sawPartial = true;
        assert.deepEqual(
          await processJobs(deps),
          [],
          `no process job while the retrieve is unfinished (${stored} of ${SLICES} stored)`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(job.state, 'succeeded', job.lastError ?? '');
      assert.equal(job.attempts, breakFirst ? 2 : 1);
      assert.equal(node.requests, breakFirst ? 2 : 1);
      assert.ok(sawPartial, 'the series was seen partly stored while the retrieve ran');

      const waited = await deps.queue.list({ kinds: ['series-stable'], states: ['succeeded'] });
      const lines = (await Promise.all(waited.map((j) => deps.queue.log(j.id)))).flat().map((l) => l.line);
      assert.ok(
        lines.some((l) => l.includes(`PACS retrieve job ${retrieve.id} is still bringing instances in`)),
        'grouping fired during the retrieve and waited',
      );

      // After the retrieve, the quiet period runs out and the one process job holds every slice.
      const deadline = Date.now() + 15_000;
      let created: Job[] = [];
      while (created.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        created = await processJobs(deps);
      }
      assert.equal(created.length, 1, 'one process job');
      const payload = created[0].payload as unknown as ProcessPayload;
      assert.equal(payload.input.kind, 'dicom-series');
      if (payload.input.kind === 'dicom-series') assert.equal(payload.input.files.length, SLICES);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await processJobs(deps)).length, 1, 'and no second one');
    });
  });
}

test('the retrieve gate looks at the series and its study: a retrieve of another series or study does not hold it', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    await db.query(`INSERT INTO dicom_studies (study_uid) VALUES ('1.2.1'), ('1.2.2')`);
    await db.query(
      `INSERT INTO dicom_series (series_uid, study_uid) VALUES ('1.2.1.1', '1.2.1'), ('1.2.1.2', '1.2.1'), ('1.2.2.1', '1.2.2')`,
    );
    assert.equal(await unfinishedRetrieveOf(db, '1.2.1.1'), undefined);
    const other = await deps.queue.add('pacs-retrieve', {
      node: 'n',
      studyInstanceUid: '1.2.1',
      seriesInstanceUid: '1.2.1.2',
    });
    assert.equal(await unfinishedRetrieveOf(db, '1.2.1.1'), undefined, 'another series of the study');
    assert.equal(await unfinishedRetrieveOf(db, '1.2.1.2'), other.id);
    const whole = await deps.queue.add('pacs-retrieve', { node: 'n', studyInstanceUid: '1.2.1' });
    assert.equal(await unfinishedRetrieveOf(db, '1.2.1.1'), whole.id, 'a retrieve of the whole study');
    assert.equal(await unfinishedRetrieveOf(db, '1.2.2.1'), undefined, 'another study');
    await deps.queue.cancel(whole.id);
    await deps.queue.cancel(other.id);
    assert.equal(await unfinishedRetrieveOf(db, '1.2.1.2'), undefined, 'cancelled retrieves hold nothing');
  });
});

test('a PACS retrieve that fails for good half-way: the partial series is set aside with the reason, never processed', async (t) => {
  const study = newUid();
  const series = newUid();
  const parts = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [24, 24, 4], seed: 5 }), {
    studyUid: study,
    seriesUid: series,
  });
  await startSlowNode(t, study, series, parts, 'always').then(async (node) => {
    await withTestDatabase('pglite', t, async (db) => {
      const deps = await testAppDeps(db, t, {
        SERIES_STABLE_SECONDS: '1',
        PACS_NODES: JSON.stringify([{ name: 'flaky', dicomweb: { url: node.url } }]),
      });
      startWorker(t, db, deps);
      const retrieve = await deps.queue.add(
        'pacs-retrieve',
        { node: 'flaky', studyInstanceUid: study, seriesInstanceUid: series },
        { maxAttempts: 2 },
      );
      let job: Job | undefined;
      while (!job) {
        const j = await deps.queue.get(retrieve.id);
        if (j && (j.state === 'succeeded' || j.state === 'failed')) job = j;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(job.state, 'failed');
      assert.equal(job.attempts, 2);
      assert.match(job.lastError ?? '', /broke off/);
      const log = (await deps.queue.log(job.id)).map((l) => l.line).join('\n');
      assert.match(log, /1 partly retrieved series set aside, not processed; retrieve again to complete them/);
      const row = (
        await db.query<{ skipped_reason: string; n: number }>(
          `SELECT s.skipped_reason, (SELECT count(*)::int FROM dicom_instances i WHERE i.series_uid = s.series_uid) AS n FROM dicom_series s WHERE series_uid = $1`,
          [series],
        )
      ).rows[0];
      // Two parts went out before the drop; the second has no closing delimiter, so only one is whole.
      assert.deepEqual(
        row,
        { skipped_reason: 'the retrieve from flaky failed before the series was complete', n: 1 },
        'the instance received whole is kept',
      );
      // Well past the quiet period: grouping ran and made nothing of the partial series.
      await new Promise((r) => setTimeout(r, 2500));
      assert.deepEqual(await processJobs(deps), []);
    });
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { insertResult } from '../web/fixtures.ts';
import type { CollectingSeries } from '../../server/series/collectingSeries.ts';
import type { LiveJob } from '../../server/http/liveJobs.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 3], seed: 5 });

/** The first message of /api/events (what a page that opens now is shown). */
async function snapshot(url: string): Promise<{ jobs: LiveJob[]; collecting: CollectingSeries[] }> {
  const controller = new AbortController();
  const res = await fetch(`${url}/api/events`, { signal: controller.signal });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended before its snapshot');
      text += Buffer.from(value).toString('utf8');
      const m = /event: snapshot\ndata: (.*)\n\n/.exec(text);
      if (m) return JSON.parse(m[1]) as { jobs: LiveJob[]; collecting: CollectingSeries[] };
    }
  } finally {
    controller.abort();
  }
}

async function uploadSeries(url: string, seriesUid: string): Promise<void> {
  const form = new FormData();
  syntheticDicomSliceBuffers(ct, { seriesUid, seriesDescription: 'Thorax' }).forEach((d, i) =>
    form.append('files', new Blob([new Uint8Array(d)]), `IM${i}`),
  );
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
  assert.equal(res.status, 200);
}

for (const driver of testDatabases()) {
  test(`a series being received is listed at once; "upload complete" queues it without the quiet period (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      assert.equal(deps.config.seriesStableSeconds, 10);
      const { url } = await startTestServer(deps, t);
      const series = newUid();
      const before = Date.now();
      await uploadSeries(url, series);

      const receiving = await snapshot(url);
      assert.equal(receiving.jobs.length, 0);
      assert.equal(receiving.collecting.length, 1);
      const c = receiving.collecting[0];
      assert.equal(c.seriesInstanceUid, series);
      assert.equal(c.images, 3);
      assert.equal(c.seriesDescription, 'Thorax');
      // Due after the quiet period (plus the push slack of at most a second).
      const wait = Date.parse(c.startsAt) - before;
      assert.ok(wait >= 9_000 && wait <= 12_500, `starts ${wait} ms after the upload`);

      const complete = await fetch(`${url}/api/uploads/complete`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ series: [series, series, '1.2.3', 'not a uid'] }),
      });
      assert.equal(complete.status, 200);
      const answer = (await complete.json()) as {
        series: Array<{ seriesInstanceUid: string; jobId?: string; reason?: string }>;
      };
      assert.equal(answer.series.length, 3, 'each series once');
      const made = answer.series.find((s) => s.seriesInstanceUid === series);
      assert.ok(made?.jobId, `a job was made: ${JSON.stringify(answer)}`);
      assert.match(answer.series.find((s) => s.seriesInstanceUid === '1.2.3')?.reason ?? '', /no longer stored/);
      assert.match(answer.series.find((s) => s.seriesInstanceUid === 'not a uid')?.reason ?? '', /not a valid/);

      const queued = await snapshot(url);
      assert.deepEqual(queued.collecting, [], 'a queued series is no longer "receiving"');
      assert.deepEqual(
        queued.jobs.map((j) => [j.id, j.state]),
        [[made.jobId, 'queued']],
      );
      // Saying so twice makes no second job.
      const again = (await (
        await fetch(`${url}/api/uploads/complete`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ series: [series] }),
        })
      ).json()) as { series: Array<{ jobId?: string; reason?: string }> };
      assert.equal(again.series[0].jobId, undefined);
      assert.match(again.series[0].reason ?? '', /no new instances/);

      const bad = await fetch(`${url}/api/uploads/complete`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ series: 'x' }),
      });
      assert.equal(bad.status, 400);
    });
  });

  test(`finished jobs can be cleared from the queue; retries are counted; results deleted and audited (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const add = () => deps.queue.add('process', { name: 'x', input: { kind: 'volume-file', file: 'volumes/x.nii' } });
      const done = await add();
      const running = await add();
      await db.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [done.id]);
      await db.query(`UPDATE jobs SET state = 'running', started_at = now() WHERE id = $1`, [running.id]);
      const failed = await add();
      await db.query(`UPDATE jobs SET state = 'failed', finished_at = now(), last_error = 'boom' WHERE id = $1`, [
        failed.id,
      ]);

      const clear = await fetch(`${url}/api/jobs/clear`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ids: [done.id, running.id] }),
      });
      assert.equal(clear.status, 200);
      assert.deepEqual(await clear.json(), { cleared: [done.id] }, 'a running job is not cleared');
      const shown = (await snapshot(url)).jobs.map((j) => j.id).sort();
      assert.deepEqual(shown, [running.id, failed.id].sort());
      assert.equal((await deps.queue.get(done.id))?.state, 'succeeded', 'the row stays');

      const retry = await fetch(`${url}/api/jobs/${failed.id}/retry`, { method: 'POST' });
      assert.equal(retry.status, 202);
      await db.query(`UPDATE jobs SET state = 'failed', finished_at = now(), last_error = 'boom again' WHERE id = $1`, [
        failed.id,
      ]);
      const again = (await snapshot(url)).jobs.find((j) => j.id === failed.id);
      assert.equal(again?.retries, 1, 'the page can say the retry failed again');
      assert.equal(again?.error, 'boom again');

      const result = await insertResult(db, deps.dataDir, { name: 'CT_x', files: { 'CT_x.glb': Buffer.from('glb') } });
      const del = await fetch(`${url}/api/results/${result.id}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      assert.deepEqual(await (await fetch(`${url}/api/results`)).json(), []);
      assert.equal((await fetch(`${url}/api/results/${result.id}/files/CT_x.glb`)).status, 404);
      assert.equal((await fetch(`${url}/api/results/${result.id}`, { method: 'DELETE' })).status, 404);
      const { rows } = await db.query<{ event: string; target: string }>(
        `SELECT event, target FROM audit_log WHERE event IN ('result-delete', 'job-clear') ORDER BY id`,
      );
      assert.deepEqual(
        rows.map((r) => r.event),
        ['job-clear', 'result-delete'],
      );
      assert.equal(rows[1].target, result.id);
    });
  });
}

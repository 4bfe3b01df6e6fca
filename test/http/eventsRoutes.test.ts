import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { insertJob, listen } from '../web/fixtures.ts';

/** Reads Server-Sent Events from a fetch body until `until` says stop. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  until: (events: Array<{ event: string; data: unknown }>) => boolean,
): Promise<Array<{ event: string; data: unknown }>> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: unknown }> = [];
  let buffer = '';
  while (!until(events)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) as unknown });
    }
  }
  await reader.cancel();
  return events;
}

test('/api/events starts with a snapshot and counts, then pushes whole job rows as they change', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const running = await insertJob(db, {
      state: 'running',
      progress: 10,
      status: 'Segmenting',
      engine: 'builtin',
      seriesDescription: 'CT Thorax',
      startedAgoMs: 5000,
    });
    await insertJob(db, { state: 'queued' });
    await insertJob(db, { state: 'failed', error: 'The series has only 2 slices; at least 10 are needed.' });
    const { base } = await listen(t, deps);

    const res = await fetch(`${base}/api/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(res.body);
    const body = res.body;
    setTimeout(async () => {
      await db.query(`UPDATE jobs SET progress = 55, status = 'Building surfaces' WHERE id = $1`, [running]);
      deps.events.emit({ type: 'job', jobId: running, state: 'running', progress: 55, status: 'Building surfaces' });
      deps.events.emit({ type: 'result', resultId: 'r1', jobId: running });
    }, 100);
    const events = await readEvents(
      body,
      (e) => e.some((x) => x.event === 'job') && e.some((x) => x.event === 'result'),
    );
    const snapshot = events[0];
    assert.equal(snapshot.event, 'snapshot');
    const snap = snapshot.data as {
      jobs: Array<{ id: string; seriesDescription: string; error: string | null }>;
      counts: Record<string, number>;
    };
    assert.equal(snap.jobs.length, 3);
    assert.deepEqual(snap.counts, { added: 3, queued: 1, processing: 1, left: 2 });
    assert.equal(snap.jobs.find((j) => j.id === running)?.seriesDescription, 'CT Thorax');
    assert.ok(snap.jobs.some((j) => j.error?.includes('only 2 slices')));
    const job = events.find((e) => e.event === 'job')?.data as {
      id: string;
      progress: number;
      status: string;
      engine: string;
    };
    assert.deepEqual([job.id, job.progress, job.status, job.engine], [running, 55, 'Building surfaces', 'builtin']);
    assert.ok(events.some((e) => e.event === 'counts'));
  });
});

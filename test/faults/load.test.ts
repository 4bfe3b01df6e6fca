import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { lostInstances, runLoad, seedResultForDownloads } from '../support/load.ts';

// A small version of bench/load.bench.ts: correctness under concurrency, not speed.
test('mixed load: 5 STOW-RS clients x 10 instances with 2 event listeners and 2 zip downloads: zero lost instances, zero 5xx', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url, server } = await startTestServer(deps, t);
    // Event streams never end by themselves.
    t.after(() => server.closeAllConnections());
    const zipFiles = await seedResultForDownloads(deps, 1);
    const report = await runLoad({
      url,
      clients: 5,
      instancesPerClient: 10,
      sseListeners: 2,
      zipDownloads: 2,
      zipFiles,
    });
    assert.equal(report.serverErrors, 0, JSON.stringify(report.statuses));
    assert.equal(report.dropped, 0);
    assert.deepEqual(report.statuses, { 200: 50 });
    assert.deepEqual(await lostInstances(deps, report.acknowledgedSops), []);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances');
    assert.equal(rows[0].n, 50);
    assert.equal(report.sse.connected, 2);
    assert.ok(report.sse.events >= 50, `listeners saw the ingest events (${report.sse.events})`);
    assert.equal(report.zips.ok, 2);
  });
});

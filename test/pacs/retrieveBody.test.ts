import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';

test('a retrieve request names the study and series as api.md spells them or with the DICOM keywords', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [{ name: 'main', dicomweb: { url: 'http://127.0.0.1:9/dicom-web' } }];
    const deps = await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes) });
    const { url } = await startTestServer(deps, t);
    const post = (body: unknown) =>
      fetch(`${url}/api/pacs/nodes/main/retrieve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const payloads: unknown[] = [];
    for (const body of [
      { studyInstanceUid: '1.2.3.4', seriesInstanceUid: '1.2.3.4.5' },
      { studyInstanceUID: '1.2.3.6', seriesInstanceUID: '1.2.3.6.5' },
      { StudyInstanceUID: '1.2.3.7' },
    ]) {
      const res = await post(body);
      assert.equal(res.status, 202, JSON.stringify(body));
      const { jobId } = (await res.json()) as { jobId: string };
      payloads.push(
        (await db.query<{ payload: unknown }>('SELECT payload FROM jobs WHERE id = $1', [jobId])).rows[0].payload,
      );
    }
    assert.deepEqual(payloads, [
      { node: 'main', studyInstanceUid: '1.2.3.4', seriesInstanceUid: '1.2.3.4.5' },
      { node: 'main', studyInstanceUid: '1.2.3.6', seriesInstanceUid: '1.2.3.6.5' },
      { node: 'main', studyInstanceUid: '1.2.3.7' },
    ]);
    assert.equal((await post({ study: '1.2.3.4' })).status, 400);
  });
});

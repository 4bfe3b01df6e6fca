import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { fetchBody, startTestServer } from '../support/dicomweb.ts';
import { hasOrthanc, startOrthanc } from '../support/orthanc.ts';
import { requireOrSkip } from '../support/requirements.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

test('Orthanc pushes a series to our STOW-RS endpoint through its DICOMweb client', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const orthanc = await startOrthanc({ gateway: [`${url}/dicomweb/`] });
    t.after(() => orthanc.stop());
    const study = newUid();
    const series = newUid();
    const slices = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [64, 64, 12], seed: 9 }), {
      studyUid: study,
      seriesUid: series,
    });
    let orthancStudyId = '';
    for (const s of slices) {
      const res = await fetch(`${orthanc.url}/instances`, {
        method: 'POST',
        body: fetchBody(s),
        headers: { 'Content-Type': 'application/dicom' },
      });
      assert.equal(res.status, 200);
      orthancStudyId = ((await res.json()) as { ParentStudy: string }).ParentStudy;
    }
    const push = await fetch(`${orthanc.url}/dicom-web/servers/gateway/stow`, {
      method: 'POST',
      body: JSON.stringify({ Resources: [orthancStudyId], Synchronous: true }),
      headers: { 'Content-Type': 'application/json' },
    });
    const pushText = await push.text();
    assert.equal(push.status, 200, pushText);
    const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE series_uid = $1', [
      series,
    ]);
    assert.equal(Number(rows.rows[0].n), slices.length);

    // And Orthanc can search us back through QIDO-RS.
    const qido = await fetch(`${orthanc.url}/dicom-web/servers/gateway/get`, {
      method: 'POST',
      body: JSON.stringify({ Uri: '/studies', Arguments: { StudyInstanceUID: study } }),
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(qido.status, 200, await qido.clone().text());
    const found = (await qido.json()) as Array<Record<string, { Value?: unknown[] }>>;
    assert.equal(found[0]?.['0020000D']?.Value?.[0], study);
  });
});

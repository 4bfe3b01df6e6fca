import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { dj, fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { MultipartRelatedTokenizer } from '../../server/dicomweb/multipartRelated.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 3], seed: 5 });

async function qido(url: string): Promise<{ status: number; json: unknown[] }> {
  const res = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
  assert.match(res.headers.get('content-type') ?? '', /application\/dicom\+json/);
  return { status: res.status, json: (await res.json()) as unknown[] };
}

test('QIDO-RS finds studies, series and instances by UID, patient ID, date range and modality; WADO-RS returns the stored bytes', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const studyA = newUid();
    const studyB = newUid();
    const seriesA = newUid();
    const seriesB = newUid();
    const a = syntheticDicomSliceBuffers(ct, {
      studyUid: studyA,
      seriesUid: seriesA,
      patientId: 'PAT-A',
      patientName: 'Müller^Anna',
    });
    const b = syntheticDicomSliceBuffers(ct, { studyUid: studyB, seriesUid: seriesB, patientId: 'PAT-B' });
    const res = await fetch(`${url}/dicomweb/studies`, {
      method: 'POST',
      body: fetchBody(multipartRelated([...a, ...b], 'q')),
      headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=q' },
    });
    assert.equal(res.status, 200);

    const all = await qido(`${url}/dicomweb/studies`);
    assert.equal(all.json.length, 2);
    const byPatient = await qido(`${url}/dicomweb/studies?PatientID=PAT-A`);
    assert.equal(byPatient.json.length, 1);
    const s = byPatient.json[0];
    assert.deepEqual(dj(s, '0020000D'), [studyA]);
    assert.deepEqual(dj(s, '00100010'), [{ Alphabetic: 'Müller^Anna' }], 'charset-decoded person name');
    assert.deepEqual(dj(s, '00080061'), ['CT']);
    assert.deepEqual(dj(s, '00201206'), [1]);
    assert.deepEqual(dj(s, '00201208'), [3]);
    assert.deepEqual(dj(s, '00081190'), [`${url}/dicomweb/studies/${studyA}`]);
    for (const tag of [
      '00080020',
      '00080030',
      '00080050',
      '00080090',
      '00100020',
      '00100030',
      '00100040',
      '00200010',
    ]) {
      assert.ok(tag in (s as object), `study attribute ${tag} present`);
    }
    assert.equal((await qido(`${url}/dicomweb/studies?PatientID=PAT-*`)).json.length, 2);
    assert.equal((await qido(`${url}/dicomweb/studies?00100020=PAT-B`)).json.length, 1);
    assert.equal((await qido(`${url}/dicomweb/studies?StudyDate=20240101-20240131`)).json.length, 2);
    assert.equal((await qido(`${url}/dicomweb/studies?StudyDate=-20231231`)).json.length, 0);
    assert.equal((await qido(`${url}/dicomweb/studies?ModalitiesInStudy=MR`)).json.length, 0);
    assert.equal((await qido(`${url}/dicomweb/studies?PatientName=m*ller*`)).json.length, 1);
    assert.equal((await qido(`${url}/dicomweb/studies?limit=1`)).json.length, 1);
    assert.equal((await qido(`${url}/dicomweb/studies?limit=1&offset=1`)).json.length, 1);
    assert.equal((await qido(`${url}/dicomweb/studies?StudyInstanceUID=${studyA},${studyB}`)).json.length, 2);
    assert.equal((await qido(`${url}/dicomweb/studies?unknownParam=1`)).json.length, 2, 'unknown parameters ignored');
    assert.equal((await fetch(`${url}/dicomweb/studies?StudyDate=yesterday`)).status, 400);

    const series = await qido(`${url}/dicomweb/studies/${studyA}/series`);
    assert.equal(series.json.length, 1);
    assert.deepEqual(dj(series.json[0], '0020000E'), [seriesA]);
    assert.deepEqual(dj(series.json[0], '00080060'), ['CT']);
    assert.deepEqual(dj(series.json[0], '00201209'), [3]);
    assert.equal((await qido(`${url}/dicomweb/series?Modality=CT`)).json.length, 2);

    const instances = await qido(`${url}/dicomweb/studies/${studyA}/series/${seriesA}/instances`);
    assert.equal(instances.json.length, 3);
    assert.deepEqual(
      instances.json.map((i) => dj(i, '00200013')?.[0]),
      [1, 2, 3],
    );
    assert.deepEqual(dj(instances.json[0], '00280010'), [16]);
    assert.deepEqual(dj(instances.json[0], '00080016'), ['1.2.840.10008.5.1.4.1.1.2']);
    assert.equal((await qido(`${url}/dicomweb/instances?SOPInstanceUID=${seriesB}.2`)).json.length, 1);
    assert.deepEqual((await qido(`${url}/dicomweb/studies/${newUid()}/series`)).json, []);

    // WADO-RS: one instance, as multipart/related, byte-identical apart from the zeroed preamble.
    const sop = `${seriesA}.2`;
    const wado = await fetch(`${url}/dicomweb/studies/${studyA}/series/${seriesA}/instances/${sop}`, {
      headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
    });
    assert.equal(wado.status, 200);
    const ctype = wado.headers.get('content-type') ?? '';
    assert.match(ctype, /^multipart\/related; type="application\/dicom"; boundary=/);
    const boundary = /boundary=([^;]+)/.exec(ctype)?.[1] ?? '';
    const tok = new MultipartRelatedTokenizer(boundary);
    const body = Buffer.from(await wado.arrayBuffer());
    const events = [...tok.write(body), ...tok.end()];
    const data = Buffer.concat(events.flatMap((e) => (e.type === 'data' ? [e.chunk] : [])));
    assert.equal(events.filter((e) => e.type === 'part').length, 1);
    const expected = Buffer.concat([Buffer.alloc(128), a[1].subarray(128)]);
    assert.ok(data.equals(expected), 'retrieved instance equals what was sent, preamble zeroed');

    const whole = await fetch(`${url}/dicomweb/studies/${studyB}`, {
      headers: { Accept: 'multipart/related; type="application/dicom"' },
    });
    const wb = Buffer.from(await whole.arrayBuffer());
    const tb = new MultipartRelatedTokenizer(
      /boundary=([^;]+)/.exec(whole.headers.get('content-type') ?? '')?.[1] ?? '',
    );
    assert.equal(
      [...tb.write(wb), ...tb.end()].filter((e) => e.type === 'part').length,
      3,
      'study retrieve streams every instance',
    );

    const single = await fetch(`${url}/dicomweb/studies/${studyA}/series/${seriesA}/instances/${sop}`, {
      headers: { Accept: 'application/dicom' },
    });
    assert.equal(single.headers.get('content-type'), 'application/dicom');
    assert.ok(Buffer.from(await single.arrayBuffer()).equals(expected));

    assert.equal(
      (await fetch(`${url}/dicomweb/studies/${studyA}/series/${seriesA}/instances/${newUid()}`)).status,
      404,
    );
    const wrongTs = await fetch(`${url}/dicomweb/studies/${studyA}/series/${seriesA}/instances/${sop}`, {
      headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50' },
    });
    assert.equal(wrongTs.status, 406);
  });
});

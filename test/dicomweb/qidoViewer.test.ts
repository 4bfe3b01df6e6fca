import { test } from 'node:test';
import assert from 'node:assert/strict';
import dicomParser from 'dicom-parser';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { dj, startTestServer } from '../support/dicomweb.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { insertSegResult } from '../support/resultSeg.ts';
import { readMultipart, stowFolder } from '../support/wado.ts';

type Json = Record<string, { vr: string; Value?: unknown[] }>;

async function qido(url: string): Promise<{ status: number; warning: string | null; json: Json[] }> {
  const res = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
  return {
    status: res.status,
    warning: res.headers.get('warning'),
    json: res.status === 200 ? ((await res.json()) as Json[]) : [],
  };
}

test('QIDO-RS for viewers: includefield (tags, keywords, all), fuzzymatching warning, series 0040,0245 and 0040,0275, result SEGs in their study', async (t) => {
  if (!requireTestData(t)) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const files = await stowFolder(url, testDataPath('derived_made_here/dicom/totalseg_torso_20sl_uids_j2k_4.90'));
    const head = dicomParser.parseDicom([...files.values()][0], { untilTag: 'x7fe00010' });
    const study = head.string('x0020000d') ?? '';
    const series = head.string('x0020000e') ?? '';

    const plain = await qido(`${url}/dicomweb/studies/${study}/series`);
    assert.equal(plain.json.length, 1);
    assert.deepEqual(
      dj(plain.json[0], '00400245'),
      ['140055'],
      'Performed Procedure Step Start Time from the instance',
    );
    assert.equal(plain.json[0]['00400275']?.vr, 'SQ', 'Request Attributes Sequence from the instance');
    assert.equal(plain.json[0]['00080070'], undefined, 'nothing else unless asked');

    const byTag = await qido(`${url}/dicomweb/studies/${study}/series?includefield=00080070&includefield=SeriesDate`);
    assert.deepEqual(dj(byTag.json[0], '00080070'), [head.string('x00080070')]);
    const allInstances = await qido(
      `${url}/dicomweb/studies/${study}/series/${series}/instances?includefield=all&limit=2`,
    );
    assert.equal(allInstances.json.length, 2);
    assert.equal(allInstances.json[0]['00280030']?.vr, 'DS', 'Pixel Spacing with includefield=all');
    assert.equal(allInstances.json[0]['7FE00010'], undefined, 'no pixel data in search results');
    assert.ok(allInstances.json[0]['00200032'], 'instance level keeps per-image attributes');
    const allStudies = await qido(`${url}/dicomweb/studies?includefield=all`);
    assert.ok(allStudies.json[0]['00100020']);
    assert.equal(allStudies.json[0]['00280010'], undefined, 'study level has no image attributes');
    assert.equal(allStudies.json[0]['00200032'], undefined);
    const allSeries = await qido(`${url}/dicomweb/series?includefield=all`);
    assert.equal(allSeries.json[0]['00200032'], undefined, 'series level leaves out what differs per image');
    assert.ok(allSeries.json[0]['00200037'], 'series level keeps the orientation');
    assert.equal((await qido(`${url}/dicomweb/studies?includefield=NoSuchKeyword`)).status, 400);

    const fuzzy = await qido(`${url}/dicomweb/studies?PatientName=x*&fuzzymatching=true`);
    assert.equal(fuzzy.status, 200);
    assert.match(fuzzy.warning ?? '', /^299 .*fuzzymatching parameter is not supported/);
    assert.equal((await qido(`${url}/dicomweb/studies?fuzzymatching=false`)).warning, null);

    // The SEG of a processed series is listed with the study's series and served like a stored instance.
    const seg = await insertSegResult(db, deps.dataDir, study, series);
    const withSeg = await qido(`${url}/dicomweb/studies/${study}/series`);
    assert.deepEqual(
      withSeg.json.map((s) => dj(s, '00080060')?.[0]),
      ['CT', 'SEG'],
    );
    assert.deepEqual(dj(withSeg.json[1], '0020000E'), [seg.segSeriesUid]);
    // The study's counts and modalities include it, as the series list does.
    const [studyRow] = (await qido(`${url}/dicomweb/studies?StudyInstanceUID=${study}`)).json;
    assert.deepEqual(dj(studyRow, '00201206'), [2]);
    assert.deepEqual(dj(studyRow, '00201208'), [files.size + 1]);
    assert.deepEqual(dj(studyRow, '00080061'), ['CT', 'SEG']);
    const segInstances = await qido(`${url}/dicomweb/studies/${study}/series/${seg.segSeriesUid}/instances`);
    assert.deepEqual(dj(segInstances.json[0], '00080018'), [seg.segSopUid]);
    const meta = await fetch(`${url}/dicomweb/studies/${study}/series/${seg.segSeriesUid}/metadata`);
    const [m] = (await meta.json()) as Json[];
    assert.deepEqual(m['00080016'].Value, ['1.2.840.10008.5.1.4.1.1.66.4']);
    const part = await readMultipart(
      await fetch(`${url}/dicomweb/studies/${study}/series/${seg.segSeriesUid}/instances/${seg.segSopUid}`),
    );
    assert.equal(dicomParser.parseDicom(part[0].body).string('x00080018'), seg.segSopUid);
  });
});

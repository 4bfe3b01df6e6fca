import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../../server/db/database.ts';
import type { AppContext } from '../../server/app/context.ts';
import type { ChosenEngine } from '../../server/engines/engine.ts';
import type { Job } from '../../server/jobs/queue.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { dciodvfy, hasDciodvfy } from '../support/dciodvfy.ts';
import { fetchBody, startTestServer } from '../support/dicomweb.ts';
import { freePort, hasOrthanc, startOrthanc } from '../support/orthanc.ts';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';

const SERIES_DIR = ['derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_uncompressed'];

function startWorker(t: TestContext, db: Database, deps: AppContext & { engine: ChosenEngine }): void {
  const worker = new Worker({
    db,
    queue: deps.queue,
    tasks: taskList(deps),
    logger: deps.logger,
    concurrency: 2,
    pollIntervalMs: 100,
  });
  void worker.start();
  t.after(() => worker.stop(2000));
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function finishedJob(deps: AppContext, id: string, timeoutMs = 60_000): Promise<Job> {
  return waitFor(`job ${id}`, timeoutMs, async () => {
    const j = await deps.queue.get(id);
    return j && (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') ? j : undefined;
  });
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const res = await fetch(url, { headers });
  assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

type Tags = Record<string, unknown>;

test('PACS round trip with Orthanc: search, retrieve, process with the built-in engine, SEG stored back in the same study', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  if (!requireTestData(t)) return;
  const orthanc = await startOrthanc();
  t.after(() => orthanc.stop());
  const dir = testDataPath(...SERIES_DIR);
  let orthancStudy = '';
  for (const f of (await readdir(dir)).sort()) {
    const res = await fetch(`${orthanc.url}/instances`, {
      method: 'POST',
      body: fetchBody(await readFile(join(dir, f))),
      headers: { 'Content-Type': 'application/dicom' },
    });
    assert.equal(res.status, 200);
    orthancStudy = ((await res.json()) as { ParentStudy: string }).ParentStudy;
  }
  const studyInfo = await getJson<{
    MainDicomTags: { StudyInstanceUID: string };
    PatientMainDicomTags: { PatientID: string };
  }>(`${orthanc.url}/studies/${orthancStudy}`);
  const studyUid = studyInfo.MainDicomTags.StudyInstanceUID;

  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [{ name: 'orthanc', dicomweb: { url: `${orthanc.url}/dicom-web` }, export: { retrieved: true } }];
    const deps = await testAppDeps(db, t, {
      ENGINE: 'builtin',
      SERIES_STABLE_SECONDS: '5',
      PACS_NODES: JSON.stringify(nodes),
    });
    const { url } = await startTestServer(deps, t);
    startWorker(t, db, deps);

    const listed = await getJson<Array<{ name: string; canSearch: boolean }>>(`${url}/api/pacs/nodes`);
    assert.deepEqual(
      listed.map((n) => [n.name, n.canSearch]),
      [['orthanc', true]],
    );

    const patientId = studyInfo.PatientMainDicomTags.PatientID;
    const studies = await getJson<Array<{ studyInstanceUid: string; numberOfInstances: number | null }>>(
      `${url}/api/pacs/nodes/orthanc/studies?patientId=${encodeURIComponent(patientId)}`,
    );
    assert.equal(studies.length, 1);
    assert.equal(studies[0].studyInstanceUid, studyUid);
    const none = await getJson<unknown[]>(`${url}/api/pacs/nodes/orthanc/studies?patientId=NO-SUCH-PATIENT`);
    assert.equal(none.length, 0);
    const series = await getJson<Array<{ seriesInstanceUid: string; modality: string; numberOfInstances: number }>>(
      `${url}/api/pacs/nodes/orthanc/studies/${studyUid}/series`,
    );
    assert.equal(series.length, 1);
    assert.equal(series[0].modality, 'CT');
    assert.equal(series[0].numberOfInstances, 20);
    const sourceSeries = series[0].seriesInstanceUid;

    const post = await fetch(`${url}/api/pacs/nodes/orthanc/retrieve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: studyUid, seriesInstanceUid: sourceSeries }),
    });
    assert.equal(post.status, 202, await post.clone().text());
    const { jobId } = (await post.json()) as { jobId: string };
    const retrieve = await finishedJob(deps, jobId);
    assert.equal(retrieve.state, 'succeeded', retrieve.lastError ?? '');

    // Grouping queues the process job; it writes the SEG and the rule sends it back to Orthanc.
    const exported = await waitFor('the SEG export', 80_000, async () => {
      const r = await db.query<{
        state: string;
        detail: string | null;
        result_id: string;
        seg_sop_instance_uid: string | null;
      }>('SELECT * FROM pacs_exports');
      const row = r.rows[0];
      if (row?.state === 'failed') assert.fail(`export failed: ${row.detail}`);
      return row?.state === 'succeeded' ? row : undefined;
    });

    const results = await getJson<
      Array<{
        id: string;
        files: Array<{ name: string; url: string }>;
        pacsExports: Array<{ node: string; state: string }>;
      }>
    >(`${url}/api/results`);
    const result = results.find((r) => r.id === exported.result_id);
    assert.ok(result);
    const segFile = result.files.find((f) => f.name.endsWith('_seg.dcm'));
    assert.ok(segFile, 'the SEG is listed with the other outputs');
    assert.deepEqual(
      result.pacsExports.map((e) => [e.node, e.state]),
      [['orthanc', 'succeeded']],
    );
    const download = await fetch(`${url}${segFile.url}`);
    assert.equal(download.status, 200);
    const segBytes = Buffer.from(await download.arrayBuffer());
    assert.equal(segBytes.subarray(128, 132).toString('latin1'), 'DICM');
    if (hasDciodvfy()) {
      const file = join(deps.dataDir, 'check_seg.dcm');
      await writeFile(file, segBytes);
      const report = await dciodvfy(file);
      assert.deepEqual(report.errors, [], report.output);
    }

    // Orthanc now holds the SEG in the same study, referencing the source series and its frame of reference.
    const studySeries = await getJson<
      Array<{ ID: string; MainDicomTags: { Modality: string; SeriesInstanceUID: string } }>
    >(`${orthanc.url}/studies/${orthancStudy}/series`);
    assert.deepEqual(studySeries.map((s) => s.MainDicomTags.Modality).sort(), ['CT', 'SEG']);
    const segSeries = studySeries.find((s) => s.MainDicomTags.Modality === 'SEG') as { ID: string };
    const [segInstance] = await getJson<Array<{ ID: string; MainDicomTags: { SOPInstanceUID: string } }>>(
      `${orthanc.url}/series/${segSeries.ID}/instances`,
    );
    assert.equal(segInstance.MainDicomTags.SOPInstanceUID, exported.seg_sop_instance_uid);
    const tags = await getJson<Tags>(`${orthanc.url}/instances/${segInstance.ID}/simplified-tags`);
    assert.equal(tags.SOPClassUID, '1.2.840.10008.5.1.4.1.1.66.4');
    assert.equal(tags.StudyInstanceUID, studyUid);
    const refSeries = (tags.ReferencedSeriesSequence as Tags[])[0];
    assert.equal(refSeries.SeriesInstanceUID, sourceSeries);
    assert.equal((refSeries.ReferencedInstanceSequence as Tags[]).length, 20);

    const ctInstances = await getJson<Array<{ ID: string }>>(
      `${orthanc.url}/series/${studySeries.find((s) => s.MainDicomTags.Modality === 'CT')?.ID}/instances`,
    );
    const ctTags = await getJson<Tags>(`${orthanc.url}/instances/${ctInstances[0].ID}/simplified-tags`);
    assert.equal(tags.FrameOfReferenceUID, ctTags.FrameOfReferenceUID);
    const sourceUids = new Set((refSeries.ReferencedInstanceSequence as Tags[]).map((i) => i.ReferencedSOPInstanceUID));

    const segments = (tags.SegmentSequence as Tags[]).map((s) => s.SegmentLabel as string);
    assert.ok(segments.includes('body'), `segments: ${segments.join(', ')}`);
    assert.ok(
      segments.every((s) => ['body', 'lungs', 'bone'].includes(s)),
      `segments: ${segments.join(', ')}`,
    );
    for (const s of tags.SegmentSequence as Tags[]) {
      const type = (s.SegmentedPropertyTypeCodeSequence as Tags[])[0];
      assert.equal(type.CodingSchemeDesignator, 'SCT');
    }
    const frames = tags.PerFrameFunctionalGroupsSequence as Tags[];
    assert.equal(frames.length, Number(tags.NumberOfFrames));
    assert.ok(frames.length <= segments.length * 20);
    for (const f of frames) {
      const src = ((f.DerivationImageSequence as Tags[])[0].SourceImageSequence as Tags[])[0];
      assert.ok(sourceUids.has(src.ReferencedSOPInstanceUID), 'each frame names one of the source images');
    }
  });
});

test('a PACS node that refuses our credentials: search answers 502 with the reason, retrieval fails at once', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  const orthanc = await startOrthanc({}, { users: { alice: 'right-password' } });
  t.after(() => orthanc.stop());
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      {
        name: 'locked',
        dicomweb: { url: `${orthanc.url}/dicom-web`, auth: { username: 'alice', password: 'wrong-password' } },
      },
    ];
    const deps = await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes) });
    const { url } = await startTestServer(deps, t);
    startWorker(t, db, deps);

    const listed = await (await fetch(`${url}/api/pacs/nodes`)).text();
    assert.doesNotMatch(listed, /wrong-password/);
    assert.match(listed, /"auth":"basic"/);
    const search = await fetch(`${url}/api/pacs/nodes/locked/studies`);
    assert.equal(search.status, 502);
    assert.match(((await search.json()) as { error: string }).error, /refused our credentials \(HTTP 401/);

    const post = await fetch(`${url}/api/pacs/nodes/locked/retrieve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: '1.2.3.4' }),
    });
    assert.equal(post.status, 202);
    const job = await finishedJob(deps, ((await post.json()) as { jobId: string }).jobId);
    assert.equal(job.state, 'failed');
    assert.equal(job.attempts, 1, 'refused credentials are not retried');
    assert.match(job.lastError ?? '', /PACS node "locked" refused our credentials \(HTTP 401 Unauthorized\)/);
    assert.doesNotMatch(job.lastError ?? '', /wrong-password/);
  });
});

test('a PACS node that is down: retrieval is retried with backoff, then fails with the reason', async (t) => {
  const port = await freePort();
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [{ name: 'down', dicomweb: { url: `http://127.0.0.1:${port}/dicom-web` } }];
    const deps = await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes) });
    const { url } = await startTestServer(deps, t);
    startWorker(t, db, deps);
    const search = await fetch(`${url}/api/pacs/nodes/down/studies`);
    assert.equal(search.status, 504);
    assert.match(
      ((await search.json()) as { error: string }).error,
      /could not reach PACS node "down".*connection refused/,
    );

    const post = await fetch(`${url}/api/pacs/nodes/down/retrieve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: '1.2.3.4', seriesInstanceUid: '1.2.3.4.5' }),
    });
    const job = await finishedJob(deps, ((await post.json()) as { jobId: string }).jobId);
    assert.equal(job.state, 'failed');
    assert.equal(job.attempts, 5, 'every attempt was used');
    assert.match(
      job.lastError ?? '',
      /could not reach PACS node "down" \(127\.0\.0\.1:\d+\) to search the series of a study: connection refused/,
    );
  });
});

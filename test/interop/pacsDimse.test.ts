import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../../server/db/database.ts';
import type { AppContext } from '../../server/app/context.ts';
import type { ChosenEngine } from '../../server/engines/engine.ts';
import type { Job } from '../../server/jobs/queue.ts';
import { startDimseServer } from '../../server/dimse/scp.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { dcmtk } from '../dimse/dcmtk.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { fetchBody, startTestServer } from '../support/dicomweb.ts';
import { freePort, hasOrthanc, startOrthanc } from '../support/orthanc.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

/**
 * A PACS node that speaks only DIMSE (Orthanc's DICOM port, its DICOMweb never named): C-FIND
 * search through the same API as QIDO-RS, C-GET retrieval through storeInstance, processing, and
 * the SEG sent back with C-STORE, checked through Orthanc's REST API.
 */

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

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  return (await res.json()) as T;
}

type Tags = Record<string, unknown>;

test('DIMSE-only PACS node: C-FIND search, C-GET retrieve, process, SEG sent back with C-STORE', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  if (!requireTestData(t)) return;
  const orthanc = await startOrthanc(
    {},
    { config: { DicomAlwaysAllowFind: true, DicomAlwaysAllowGet: true, DicomAlwaysAllowStore: true } },
  );
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
    MainDicomTags: { StudyInstanceUID: string; StudyDate?: string };
    PatientMainDicomTags: { PatientID: string };
  }>(`${orthanc.url}/studies/${orthancStudy}`);
  const studyUid = studyInfo.MainDicomTags.StudyInstanceUID;

  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      {
        name: 'dimse-only',
        dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'ORTHANC' },
        export: { retrieved: true },
      },
    ];
    const deps = await testAppDeps(db, t, {
      ENGINE: 'builtin',
      SERIES_STABLE_SECONDS: '2',
      PACS_NODES: JSON.stringify(nodes),
    });
    const { url } = await startTestServer(deps, t);
    startWorker(t, db, deps);

    const [listed] = await getJson<
      Array<{ name: string; canSearch: boolean; canRetrieve: boolean; dicomweb: unknown }>
    >(`${url}/api/pacs/nodes`);
    assert.deepEqual(
      [listed.name, listed.canSearch, listed.canRetrieve, listed.dicomweb],
      ['dimse-only', true, true, null],
    );

    const patientId = studyInfo.PatientMainDicomTags.PatientID;
    const studies = await getJson<
      Array<{
        studyInstanceUid: string;
        patientId: string;
        modalities: string[];
        numberOfInstances: number | null;
        numberOfSeries: number | null;
      }>
    >(`${url}/api/pacs/nodes/dimse-only/studies?patientId=${encodeURIComponent(patientId)}&modality=CT`);
    assert.equal(studies.length, 1);
    assert.equal(studies[0].studyInstanceUid, studyUid);
    assert.equal(studies[0].patientId, patientId);
    assert.deepEqual(studies[0].modalities, ['CT']);
    assert.equal(studies[0].numberOfInstances, 20);
    assert.equal(studies[0].numberOfSeries, 1);
    assert.deepEqual(
      await getJson<unknown[]>(`${url}/api/pacs/nodes/dimse-only/studies?patientId=NO-SUCH-PATIENT`),
      [],
    );

    const series = await getJson<
      Array<{ seriesInstanceUid: string; modality: string; numberOfInstances: number | null }>
    >(`${url}/api/pacs/nodes/dimse-only/studies/${studyUid}/series`);
    assert.equal(series.length, 1);
    assert.equal(series[0].modality, 'CT');
    assert.equal(series[0].numberOfInstances, 20);
    const sourceSeries = series[0].seriesInstanceUid;

    const post = await fetch(`${url}/api/pacs/nodes/dimse-only/retrieve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: studyUid, seriesInstanceUid: sourceSeries }),
    });
    assert.equal(post.status, 202, await post.clone().text());
    const retrieve = await finishedJob(deps, ((await post.json()) as { jobId: string }).jobId);
    assert.equal(retrieve.state, 'succeeded', retrieve.lastError ?? '');
    const stored = await db.query<{ n: number; via: string }>(
      `SELECT count(*)::int AS n, min(received_via) AS via FROM dicom_instances WHERE series_uid = $1`,
      [sourceSeries],
    );
    assert.deepEqual(stored.rows[0], { n: 20, via: 'pacs' });
    const log = (await deps.queue.log(retrieve.id)).map((l) => l.line).join('\n');
    assert.match(log, /over DIMSE C-GET/);
    assert.match(log, /stored 20 of 20 instances in 1 series/);

    // The export rule sends the SEG back to the node it came from, over C-STORE (no DICOMweb there).
    const exported = await waitFor('the SEG export', 80_000, async () => {
      const r = await db.query<{ state: string; detail: string | null; seg_sop_instance_uid: string | null }>(
        'SELECT * FROM pacs_exports',
      );
      const row = r.rows[0];
      if (row?.state === 'failed') assert.fail(`export failed: ${row.detail}`);
      return row?.state === 'succeeded' ? row : undefined;
    });
    const studySeries = await getJson<Array<{ ID: string; MainDicomTags: { Modality: string } }>>(
      `${orthanc.url}/studies/${orthancStudy}/series`,
    );
    assert.deepEqual(studySeries.map((s) => s.MainDicomTags.Modality).sort(), ['CT', 'SEG']);
    const segSeries = studySeries.find((s) => s.MainDicomTags.Modality === 'SEG') as { ID: string };
    const [segInstance] = await getJson<Array<{ ID: string; MainDicomTags: { SOPInstanceUID: string } }>>(
      `${orthanc.url}/series/${segSeries.ID}/instances`,
    );
    assert.equal(segInstance.MainDicomTags.SOPInstanceUID, exported.seg_sop_instance_uid);
    const tags = await getJson<Tags>(`${orthanc.url}/instances/${segInstance.ID}/simplified-tags`);
    assert.equal(tags.SOPClassUID, '1.2.840.10008.5.1.4.1.1.66.4');
    assert.equal((tags.ReferencedSeriesSequence as Tags[])[0].SeriesInstanceUID, sourceSeries);
    const meta = await getJson<Record<string, unknown>>(`${orthanc.url}/instances/${segInstance.ID}/metadata?expand`);
    assert.equal(meta.ReceptionDate !== undefined, true);
    assert.equal(meta.Origin, 'DicomProtocol', 'the SEG came in over DIMSE, not REST or DICOMweb');
    assert.equal(meta.RemoteAET, deps.config.aeTitle);
  });
});

test('DIMSE-only node: a study that is not there fails the retrieve with the reason; a node that is down answers 504', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  const orthanc = await startOrthanc({}, { config: { DicomAlwaysAllowFind: true, DicomAlwaysAllowGet: true } });
  t.after(() => orthanc.stop());
  const downPort = await freePort();
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      { name: 'empty', dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'ORTHANC' } },
      { name: 'down', dimse: { host: '127.0.0.1', port: downPort, aeTitle: 'NOBODY' } },
    ];
    const deps = await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes) });
    const { url } = await startTestServer(deps, t);
    startWorker(t, db, deps);

    const search = await fetch(`${url}/api/pacs/nodes/down/studies`);
    assert.equal(search.status, 504);
    assert.match(
      ((await search.json()) as { error: string }).error,
      /could not reach PACS node "down" \(127\.0\.0\.1:\d+\) over DIMSE to search studies/,
    );

    const post = await fetch(`${url}/api/pacs/nodes/empty/retrieve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: '1.2.3.4' }),
    });
    assert.equal(post.status, 202);
    const job = await finishedJob(deps, ((await post.json()) as { jobId: string }).jobId);
    assert.equal(job.state, 'failed');
    assert.equal(job.attempts, 1, 'an empty answer is not retried');
    assert.match(job.lastError ?? '', /PACS node "empty" answered the C-GET with unable to process \(0xC000\)/);
  });
});

test('DIMSE node set to C-MOVE: an unknown destination fails at once with the likely fix; once registered, the series arrives through our SCP', async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  const orthanc = await startOrthanc({}, { config: { DicomAlwaysAllowFind: true, DicomAlwaysAllowMove: true } });
  t.after(() => orthanc.stop());
  const study = newUid();
  const series = newUid();
  for (const slice of syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [16, 16, 4], seed: 4 }), {
    studyUid: study,
    seriesUid: series,
  })) {
    const res = await fetch(`${orthanc.url}/instances`, {
      method: 'POST',
      body: fetchBody(slice),
      headers: { 'Content-Type': 'application/dicom' },
    });
    assert.equal(res.status, 200);
  }
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      { name: 'mover', dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'ORTHANC', retrieve: 'move' } },
    ];
    // DIMSE_PORT only has to be on for C-MOVE; the SCP itself listens on a free port given to Orthanc.
    const deps = await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes), DIMSE_PORT: '104' });
    const scp = await startDimseServer(deps, { port: 0 });
    t.after(() => scp.close());
    const all = taskList(deps);
    const worker = new Worker({
      db,
      queue: deps.queue,
      tasks: { 'pacs-retrieve': all['pacs-retrieve'] },
      logger: deps.logger,
      concurrency: 1,
      pollIntervalMs: 100,
    });
    void worker.start();
    t.after(() => worker.stop(2000));
    const payload = { node: 'mover', studyInstanceUid: study, seriesInstanceUid: series };

    const refused = await finishedJob(deps, (await deps.queue.add('pacs-retrieve', payload, { maxAttempts: 3 })).id);
    assert.equal(refused.state, 'failed');
    assert.equal(refused.attempts, 1, 'a destination the node does not know is not retried');
    assert.match(
      refused.lastError ?? '',
      /PACS node "mover" answered the C-MOVE with unable to process \(0xC000\); no association from the node reached our DICOM SCP: check that the node knows our AE title ANATOMYGW as a C-MOVE destination, with this server's address and DIMSE_PORT 104/,
    );

    const put = await fetch(`${orthanc.url}/modalities/gateway`, {
      method: 'PUT',
      body: JSON.stringify({ AET: deps.config.aeTitle, Host: '127.0.0.1', Port: scp.port }),
    });
    assert.equal(put.status, 200, await put.text());
    const moved = await finishedJob(deps, (await deps.queue.add('pacs-retrieve', payload, { maxAttempts: 3 })).id);
    assert.equal(moved.state, 'succeeded', moved.lastError ?? '');
    const stored = await db.query<{ n: number; via: string }>(
      `SELECT count(*)::int AS n, min(received_via) AS via FROM dicom_instances WHERE series_uid = $1`,
      [series],
    );
    assert.deepEqual(stored.rows[0], { n: 4, via: 'dimse' });
    const log = (await deps.queue.log(moved.id)).map((l) => l.line).join('\n');
    assert.match(log, /over DIMSE C-MOVE to ANATOMYGW/);
    assert.match(log, /stored 4 of 4 instances in 1 series/);
    const retrieved = await db.query<{ node: string }>('SELECT node FROM pacs_retrieved_series WHERE series_uid = $1', [
      series,
    ]);
    assert.deepEqual(retrieved.rows, [{ node: 'mover' }], 'the export rule knows where the series came from');
  });
});

/** Orthanc with a 4-slice synthetic series, C-MOVE allowed from anyone. */
async function orthancWithSeries(t: TestContext) {
  const orthanc = await startOrthanc({}, { config: { DicomAlwaysAllowFind: true, DicomAlwaysAllowMove: true } });
  t.after(() => orthanc.stop());
  const study = newUid();
  const series = newUid();
  for (const slice of syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [16, 16, 4], seed: 5 }), {
    studyUid: study,
    seriesUid: series,
  })) {
    const res = await fetch(`${orthanc.url}/instances`, {
      method: 'POST',
      body: fetchBody(slice),
      headers: { 'Content-Type': 'application/dicom' },
    });
    assert.equal(res.status, 200);
  }
  return { orthanc, study, series };
}

/** A gateway whose SCP Orthanc knows as its C-MOVE destination, and a worker that runs only retrieves. */
async function moveGateway(t: TestContext, db: Database, orthancUrl: string, env: Record<string, string>) {
  const deps = await testAppDeps(db, t, { DIMSE_PORT: '104', ...env });
  const scp = await startDimseServer(deps, { port: 0 });
  t.after(() => scp.close());
  const put = await fetch(`${orthancUrl}/modalities/gateway`, {
    method: 'PUT',
    body: JSON.stringify({ AET: deps.config.aeTitle, Host: '127.0.0.1', Port: scp.port }),
  });
  assert.equal(put.status, 200, await put.text());
  const worker = new Worker({
    db,
    queue: deps.queue,
    tasks: { 'pacs-retrieve': taskList(deps)['pacs-retrieve'] },
    logger: deps.logger,
    concurrency: 1,
    pollIntervalMs: 100,
  });
  void worker.start();
  t.after(() => worker.stop(2000));
  return { deps, port: scp.port };
}

test("C-MOVE with DIMSE_ALLOWED_AETS: the node's AE title may connect back; a node calling from another AE title is refused and the job says so", async (t) => {
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc with the DICOMweb plugin (Debian: orthanc orthanc-dicomweb)')) return;
  const { orthanc, study, series } = await orthancWithSeries(t);
  const allowList = { DIMSE_ALLOWED_AETS: 'CT_SCANNER' };
  const stored = async (db: Database) =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM dicom_instances WHERE series_uid = $1`, [series]))
      .rows[0].n;

  // Orthanc answers to any called AE title but calls back as ORTHANC: reached as "PACS_ALIAS", its
  // return association is not from a PACS_NODES AE title, and the allow-list refuses it.
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      { name: 'alias', dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'PACS_ALIAS', retrieve: 'move' } },
    ];
    const { deps } = await moveGateway(t, db, orthanc.url, { ...allowList, PACS_NODES: JSON.stringify(nodes) });
    const payload = { node: 'alias', studyInstanceUid: study, seriesInstanceUid: series };
    const job = await finishedJob(deps, (await deps.queue.add('pacs-retrieve', payload, { maxAttempts: 3 })).id);
    assert.equal(job.state, 'failed');
    assert.equal(job.attempts, 1, 'a refusal by our own allow-list is not retried');
    assert.match(
      job.lastError ?? '',
      /PACS node "alias" .*our DICOM SCP refused (the association|\d+ associations) the node opened to deliver them \(calling AE title "ORTHANC" from 127\.0\.0\.1: calling AE title "ORTHANC" is neither in DIMSE_ALLOWED_AETS nor the AE title of a PACS_NODES node\); add "ORTHANC" to DIMSE_ALLOWED_AETS, or set this node's "aeTitle" in PACS_NODES to the AE title it calls from/,
    );
    assert.doesNotMatch(job.lastError ?? '', /knows our AE title/);
    assert.equal(await stored(db), 0);
  });

  // Configured with the AE title it calls from, the same node delivers through the same allow-list.
  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      { name: 'mover', dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'ORTHANC', retrieve: 'move' } },
    ];
    const { deps, port } = await moveGateway(t, db, orthanc.url, {
      ...allowList,
      PACS_NODES: JSON.stringify(nodes),
    });
    const payload = { node: 'mover', studyInstanceUid: study, seriesInstanceUid: series };
    const job = await finishedJob(deps, (await deps.queue.add('pacs-retrieve', payload, { maxAttempts: 3 })).id);
    assert.equal(job.state, 'succeeded', job.lastError ?? '');
    assert.equal(await stored(db), 4);
    const audit = await db.query<{ actor: string; outcome: string }>(
      `SELECT actor, outcome FROM audit_log WHERE event = 'dimse-store'`,
    );
    assert.deepEqual(audit.rows, [{ actor: 'ae:ORTHANC', outcome: 'success' }]);
    // Another AE title is still refused: the nodes are added to the list, they do not open it.
    assert.ok(hasProgram('echoscu'), 'DCMTK echoscu');
    const echo = await dcmtk('echoscu', ['-aet', 'INTRUDER', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.notEqual(echo.code, 0);
  });
});

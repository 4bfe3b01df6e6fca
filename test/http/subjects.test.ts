import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import type { TaskHelpers } from '../../server/jobs/task.ts';
import { silentLogger } from '../../server/log.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, newUid, writeSyntheticDicomSeries } from '../support/syntheticCt.ts';
import { listen } from '../web/fixtures.ts';

/** Whose scan each job and result is: shown to signed-in pages, searchable, sortable, audited, and nowhere else. */

interface Row {
  id: string;
  displayName: string;
  subject: { patientName: string | null; patientId: string | null; studyDate: string | null } | null;
  files?: Array<{ name: string; url: string }>;
}

const PATIENTS = [
  { patientName: 'Doe^Jane', patientId: 'P-0042', seriesDescription: 'CT Body 3.0' },
  { patientName: 'Roe^Richard', patientId: 'P-0007', seriesDescription: 'Thorax 1.5' },
];

for (const driver of testDatabases()) {
  test(`patient name, ID, study date, modality and series in the pages' API, searched and sorted, audited, kept out of the phone page and file names (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { KEEP_INPUTS: 'false' });
      const { base } = await listen(t, deps);
      const ct = makeSyntheticCt({ dims: [48, 48, 16], spacing: [7, 7, 10], seed: 5 });
      const jobs: string[] = [];
      for (const [i, p] of PATIENTS.entries()) {
        const studyUid = newUid();
        const seriesUid = newUid();
        const paths = await writeSyntheticDicomSeries(join(deps.dataDir, `src${i}`), ct, { ...p, studyUid, seriesUid });
        const form = new FormData();
        for (const path of paths) form.append('files', new Blob([await readFile(path)]), path.split('/').pop());
        const upload = await fetch(`${base}/api/uploads`, { method: 'POST', body: form });
        assert.equal(upload.status, 200, await upload.clone().text());
        const { rows } = await db.query<{ path: string }>(
          'SELECT path FROM dicom_instances WHERE series_uid = $1 ORDER BY instance_number',
          [seriesUid],
        );
        const payload: ProcessPayload = {
          name: `series-${i}`,
          input: {
            kind: 'dicom-series',
            files: rows.map((r) => r.path),
            studyInstanceUid: studyUid,
            seriesInstanceUid: seriesUid,
          },
        };
        jobs.push((await deps.queue.add('process', payload)).id);
      }

      // Before processing, from the index.
      const listed = (await (await fetch(`${base}/api/jobs?kind=process`)).json()) as { jobs: Row[] };
      const before = new Map(listed.jobs.map((j) => [j.id, j]));
      assert.equal(before.get(jobs[0])?.displayName, 'Doe, Jane · CT Body 3.0 · 2024-01-15');
      assert.deepEqual(before.get(jobs[1])?.subject, {
        patientName: 'Roe^Richard',
        patientId: 'P-0007',
        studyDate: '20240115',
        modality: 'CT',
        seriesDescription: 'Thorax 1.5',
      });

      const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
      for (const id of jobs) {
        const job = await deps.queue.get(id);
        await task(
          { id, kind: 'process', payload: job!.payload as unknown as ProcessPayload, attempt: 1, maxAttempts: 3 },
          helpers(db),
        );
        await db.query(`UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1`, [id]);
      }
      const left = await db.query('SELECT 1 FROM dicom_studies');
      assert.equal(left.rowCount, 0, 'the index rows of the inputs are gone (KEEP_INPUTS=false)');

      // After: the result's own copy, the same display name on the queue and the files page.
      const after = (await (await fetch(`${base}/api/jobs?kind=process`)).json()) as { jobs: Row[] };
      const results = (await (await fetch(`${base}/api/results`)).json()) as Row[];
      assert.equal(results.length, 2);
      for (const r of results) {
        const job = after.jobs.find((j) => j.displayName === r.displayName);
        assert.ok(job, `the queue shows "${r.displayName}" too`);
        assert.equal(job.subject?.patientId, r.subject?.patientId);
      }

      const search = async (query: string): Promise<string[]> => {
        const res = await fetch(`${base}/api/results?${query}`);
        assert.equal(res.status, 200, query);
        return ((await res.json()) as Row[]).map((r) => r.subject?.patientId ?? '');
      };
      assert.deepEqual(await search('q=jane'), ['P-0042']);
      assert.deepEqual(await search('q=doe%2C%20jane'), ['P-0042']);
      assert.deepEqual(await search('q=P-0007'), ['P-0007']);
      assert.deepEqual(await search('q=thorax'), ['P-0007']);
      assert.deepEqual((await search('q=2024-01-15')).sort(), ['P-0007', 'P-0042']);
      assert.deepEqual(await search('q=100%25'), []);
      assert.deepEqual(await search('sort=patientName&order=asc'), ['P-0042', 'P-0007']);
      assert.deepEqual(await search('sort=patientId&order=asc'), ['P-0007', 'P-0042']);
      assert.deepEqual(await search('sort=patientId&order=desc'), ['P-0042', 'P-0007']);
      assert.equal((await fetch(`${base}/api/results?sort=toString`)).status, 400);
      assert.equal((await fetch(`${base}/api/results?order=up`)).status, 400);

      // Reads are audited, with counts and never the patient data or the search words.
      const audit = await db.query<{ details: unknown }>(
        `SELECT details FROM audit_log WHERE event = 'patient-data-read' ORDER BY id`,
      );
      assert.ok(audit.rows.length >= 10, `${audit.rows.length} patient-data reads audited`);
      const trail = JSON.stringify(audit.rows);
      for (const word of ['Jane', 'Doe', 'P-00', 'thorax', '2024']) assert.ok(!trail.includes(word), word);

      // Download names and the phone page: file names and structures only.
      const files = results.flatMap((r) => r.files ?? []);
      for (const f of files) assert.doesNotMatch(f.name, /Doe|Jane|Roe|P-00/i);
      const one = await fetch(`${base}${files[0].url}`);
      await one.arrayBuffer();
      assert.doesNotMatch(one.headers.get('content-disposition') ?? '', /Doe|Jane|Roe|P-00/i);
      const link = (await (
        await fetch(`${base}/api/downloads`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ files: files.map((f) => f.url) }),
        })
      ).json()) as { url: string };
      const phone = await (await fetch(link.url.replace(/^https?:\/\/[^/]+/, base))).text();
      assert.match(phone, /_seg\.dcm/);
      assert.doesNotMatch(phone, /Doe|Jane|Roe|Richard|P-00/i);

      // Unless the site asks for it: DOWNLOAD_NAMES=patient puts the patient ID and study date in front.
      const named = await listen(t, await testAppDeps(db, t, { DOWNLOAD_NAMES: 'patient', DATA_DIR: deps.dataDir }));
      const doe = results.find((r) => r.subject?.patientId === 'P-0042')!;
      const glb = doe.files!.find((f) => f.name.endsWith('.glb'))!;
      const saved = await fetch(`${named.base}${glb.url}`);
      await saved.arrayBuffer();
      assert.match(
        saved.headers.get('content-disposition') ?? '',
        new RegExp(`filename="P-0042_20240115_${glb.name.replace('.', '\\.')}"`),
      );
      const phoneNamed = await (await fetch(link.url.replace(/^https?:\/\/[^/]+/, named.base))).text();
      assert.doesNotMatch(phoneNamed, /P-00/, 'never on the phone page');
    });
  });
}

function helpers(db: Parameters<typeof createProcessTask>[0]['db']): TaskHelpers {
  return {
    setEngine: async () => undefined,
    db,
    signal: new AbortController().signal,
    progress: async () => undefined,
    log: () => undefined,
    logger: silentLogger(),
  };
}

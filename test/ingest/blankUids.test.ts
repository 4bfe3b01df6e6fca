import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { silentLogger } from '../../server/log.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import { listResults } from '../../server/results/readResults.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { fetchBody, multipartRelated } from '../support/dicomweb.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { listen } from '../web/fixtures.ts';

/** TotalSegmentator's example series has every UID blank: the browser form takes it, STOW-RS keeps refusing it. */

const FOLDER = ['dicom', 'ct_series', 'totalseg_torso_20sl_j2k'];

interface Accepted {
  file: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  sopInstanceUid: string;
  generatedUids?: string[];
}

test('an anonymised folder with blank UIDs: one series with content-derived 2.25 UIDs through the browser form, refused over STOW-RS', async (t) => {
  if (!requireTestData(t)) return;
  if (!requireOrSkip(t, hasProgram('dcmdump'), 'dcmdump (DCMTK)')) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { KEEP_INPUTS: 'true' });
    const { base } = await listen(t, deps);
    const dir = testDataPath(...FOLDER);
    const names = (await readdir(dir)).filter((n) => n.endsWith('.dcm')).sort();
    assert.equal(names.length, 20);
    const files = await Promise.all(names.map((n) => readFile(join(dir, n))));

    // STOW-RS: still refused, every instance, with the reason.
    const stow = await fetch(`${base}/dicomweb/studies`, {
      method: 'POST',
      body: fetchBody(multipartRelated(files.slice(0, 2), 'b1')),
      headers: {
        'Content-Type': 'multipart/related; type="application/dicom"; boundary=b1',
        Accept: 'application/dicom+json',
      },
    });
    assert.equal(stow.status, 400, await stow.clone().text());
    assert.match(await stow.text(), /Study Instance UID \(0020,000D\) is missing/);

    const upload = async (): Promise<Accepted[]> => {
      // Two requests, as the page sends a folder in batches: the UIDs must not depend on which files came together.
      const accepted: Accepted[] = [];
      for (const part of [names.slice(0, 7), names.slice(7)]) {
        const f = new FormData();
        for (const n of part) f.append('files', new Blob([files[names.indexOf(n)]]), `totalseg/${n}`);
        const res = await fetch(`${base}/api/uploads`, { method: 'POST', body: f });
        const body = (await res.json()) as { accepted: Accepted[]; rejected: unknown[] };
        assert.equal(res.status, 200);
        assert.deepEqual(body.rejected, []);
        accepted.push(...body.accepted);
      }
      // Files are stored concurrently: the report lists them as they finish.
      return accepted.sort((a, b) => a.file.localeCompare(b.file));
    };
    const first = await upload();
    assert.equal(first.length, 20);
    assert.equal(new Set(first.map((a) => a.seriesInstanceUid)).size, 1, 'one series');
    assert.equal(new Set(first.map((a) => a.sopInstanceUid)).size, 20);
    for (const a of first) {
      assert.match(a.studyInstanceUid, /^2\.25\.\d+$/);
      assert.match(a.seriesInstanceUid, /^2\.25\.\d+$/);
      assert.match(a.sopInstanceUid, /^2\.25\.\d+$/);
      assert.deepEqual(a.generatedUids, ['Study Instance UID', 'Series Instance UID', 'SOP Instance UID']);
    }
    const again = await upload();
    assert.deepEqual(
      again.map((a) => [a.studyInstanceUid, a.seriesInstanceUid, a.sopInstanceUid]),
      first.map((a) => [a.studyInstanceUid, a.seriesInstanceUid, a.sopInstanceUid]),
      'the same folder gives the same UIDs',
    );

    // The stored files carry the UIDs (DCMTK reads them), so WADO, the viewer and the SEG agree with the index.
    const { rows } = await db.query<{ path: string; sop_instance_uid: string }>(
      'SELECT path, sop_instance_uid FROM dicom_instances WHERE series_uid = $1 ORDER BY instance_number',
      [first[0].seriesInstanceUid],
    );
    assert.equal(rows.length, 20);
    const dump = execFileSync(
      'dcmdump',
      ['+P', '0020,000e', '+P', '0008,0018', '+P', '0002,0003', join(deps.dataDir, rows[0].path)],
      {
        encoding: 'utf8',
      },
    );
    assert.ok(dump.includes(`[${first[0].seriesInstanceUid}]`), dump);
    assert.equal(
      dump.split(`[${rows[0].sop_instance_uid}]`).length - 1,
      2,
      `SOP Instance UID in data set and meta: ${dump}`,
    );

    // And the series is processed like any other, SEG included.
    const payload: ProcessPayload = {
      name: 'anonymised',
      input: {
        kind: 'dicom-series',
        files: rows.map((r) => r.path),
        studyInstanceUid: first[0].studyInstanceUid,
        seriesInstanceUid: first[0].seriesInstanceUid,
      },
    };
    const job = await deps.queue.add('process', payload);
    await createProcessTask(deps, { engine: builtinEngine, reason: 'test' })(
      { id: job.id, kind: 'process', payload, attempt: 1, maxAttempts: 3 },
      {
        setEngine: async () => undefined,
        db,
        signal: new AbortController().signal,
        progress: async () => undefined,
        log: () => undefined,
        logger: silentLogger(),
      },
    );
    const [result] = await listResults(db);
    assert.equal((result.source as { uidsGenerated?: boolean }).uidsGenerated, true, 'the result says so');
    const listed = (await (await fetch(`${base}/api/results`)).json()) as Array<{ uidsGenerated: boolean }>;
    assert.equal(listed[0].uidsGenerated, true);
    assert.ok(
      result.files.some((f) => f.name === 'anonymised_seg.dcm'),
      JSON.stringify(result.files.map((f) => f.name)),
    );
  });
});

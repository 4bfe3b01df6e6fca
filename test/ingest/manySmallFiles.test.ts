import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, syntheticDicomSlices } from '../support/syntheticCt.ts';
import type { IngestReport } from '../../server/ingest/ingestFile.ts';
import { INGEST_LIMITS } from '../../server/ingest/limits.ts';

const FILES = 3000;

test('thousands of tiny files in one upload: all stored, and the request is read only as fast as files are stored (temp files stay bounded)', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const form = new FormData();
    let i = 0;
    for (const slice of syntheticDicomSlices(makeSyntheticCt({ dims: [2, 2, FILES], seed: 11 }))) {
      form.append('files', new Blob([new Uint8Array(slice)]), `slice-${(i += 1)}.dcm`);
    }
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const names = await readdir(deps.storage.staging.dir).catch(() => []);
        peak = Math.max(peak, names.length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
    sampling = false;
    await sampler;
    const report = (await res.json()) as IngestReport;
    assert.equal(res.status, 200);
    assert.equal(report.rejected.length, 0, JSON.stringify(report.rejected.slice(0, 3)));
    assert.equal(report.accepted.length, FILES);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances');
    assert.equal(rows[0].n, FILES);
    // One temp file per store slot at most (plus the staging area's own spare names).
    assert.ok(
      peak <= INGEST_LIMITS.storeConcurrency + 8,
      `at most ${INGEST_LIMITS.storeConcurrency} files staged at once, saw ${peak}`,
    );
    assert.deepEqual(await readdir(deps.storage.staging.dir).catch(() => []), [], 'no temp file left');
  });
});

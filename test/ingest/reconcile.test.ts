import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir } from '../support/db.ts';
import { dj, fetchBody, multipartRelated } from '../support/dicomweb.ts';
import { startServerProcess, waitFor } from '../support/serverProcess.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { instanceKey } from '../../server/storage/layout.ts';

const BOUNDARY = 'reconcile-boundary';

async function indexedSops(url: string, study: string): Promise<string[]> {
  const res = await fetch(`${url}/dicomweb/studies/${study}/instances`);
  if (res.status === 204) return [];
  return ((await res.json()) as unknown[]).map((i) => String(dj(i, '00080018')?.[0])).sort();
}

/** A file left in DATA_DIR as a crash between placing and indexing leaves it (written before this start). */
async function leave(dataDir: string, key: string, bytes: Buffer): Promise<string> {
  const path = join(dataDir, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  const past = new Date(Date.now() - 60_000);
  await utimes(path, past, past);
  return path;
}

test('at start, an instance file without its index row is indexed when whole and valid, and removed when cut short or not DICOM', async (t) => {
  const dataDir = await tempDataDir(t);
  const env = { SERIES_STABLE_SECONDS: '3600' };
  let server = await startServerProcess(t, { dataDir, env });
  const study = newUid();
  const series = newUid();
  const slices = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [16, 16, 5], seed: 9 }), {
    studyUid: study,
    seriesUid: series,
  });
  const sop = (i: number): string => `${series}.${i + 1}`;
  const stow = await fetch(`${server.url}/dicomweb/studies`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}` },
    body: fetchBody(multipartRelated(slices.slice(0, 2), BOUNDARY)),
  });
  assert.equal(stow.status, 200);
  await server.stop();

  // Slice 3 placed whole but never indexed; slice 4 cut short; slice 5's name holding something that is not DICOM.
  await leave(dataDir, instanceKey(study, series, sop(2)), slices[2]);
  const cut = await leave(dataDir, instanceKey(study, series, sop(3)), slices[3].subarray(0, slices[3].length - 100));
  const junk = await leave(dataDir, instanceKey(study, series, sop(4)), Buffer.from('not a DICOM file at all'));

  server = await startServerProcess(t, { dataDir, env });
  await waitFor('the reconciliation', async () =>
    server.output().includes('stored instance files and index reconciled') ? true : undefined,
  );
  assert.match(server.output(), /"checked":5,"indexed":1,"removed":2,"failed":0/);
  assert.deepEqual(await indexedSops(server.url, study), [sop(0), sop(1), sop(2)].sort());
  assert.equal(existsSync(cut), false, 'the file cut short is gone');
  assert.equal(existsSync(junk), false, 'the file that is not DICOM is gone');
  const again = await fetch(`${server.url}/dicomweb/studies/${study}/series/${series}/instances/${sop(2)}`, {
    headers: { Accept: 'application/dicom; transfer-syntax=*' },
  });
  assert.equal(again.status, 200, 'the recovered instance is served');
  await again.arrayBuffer();
  await server.stop();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDataDir } from '../support/db.ts';
import { dj, fetchBody, multipartRelated } from '../support/dicomweb.ts';
import { startServerProcess, waitFor } from '../support/serverProcess.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

/**
 * Power-cut behaviour of the real server process (SIGKILL, no chance to clean up), on the default
 * embedded database: what was acknowledged survives, what was not leaves nothing behind, and work
 * in progress is done again, once.
 */

const BOUNDARY = 'crash-test-boundary-7f3a';
const STOW_TYPE = `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`;

async function stow(url: string, parts: Buffer[]): Promise<number> {
  return (await stowWithWarning(url, parts)).status;
}

async function stowWithWarning(url: string, parts: Buffer[]): Promise<{ status: number; warning: string | null }> {
  const res = await fetch(`${url}/dicomweb/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE },
    body: fetchBody(multipartRelated(parts, BOUNDARY)),
  });
  await res.arrayBuffer();
  return { status: res.status, warning: res.headers.get('warning') };
}

async function indexedSops(url: string, study: string): Promise<Set<string>> {
  const res = await fetch(`${url}/dicomweb/studies/${study}/instances?limit=1000`);
  if (res.status === 204) return new Set();
  assert.equal(res.status, 200);
  const list = (await res.json()) as unknown[];
  return new Set(list.map((i) => String(dj(i, '00080018')?.[0])));
}

test('kill -9 during a slow STOW-RS request: acknowledged instances survive on disk and in the index, the partial request leaves no temp file, the retry is accepted', async (t) => {
  const dataDir = await tempDataDir(t);
  // A long quiet period: nothing is processed (and deleted) while the test looks at the inputs.
  const env = { SERIES_STABLE_SECONDS: '3600' };
  let server = await startServerProcess(t, { dataDir, env });
  const studyUid = newUid();
  const seriesUid = newUid();
  const ct = makeSyntheticCt({ dims: [64, 64, 40], spacing: [5, 5, 5], seed: 3 });
  const slices = syntheticDicomSliceBuffers(ct, { studyUid, seriesUid });
  const sop = (i: number): string => `${seriesUid}.${i + 1}`;

  // Three separate requests, each acknowledged with 200.
  for (let r = 0; r < 3; r++) assert.equal(await stow(server.url, slices.slice(r * 10, r * 10 + 10)), 200);

  // The fourth is sent slowly and cut off mid-part by the crash.
  const body = multipartRelated(slices.slice(30, 40), BOUNDARY);
  const cut = Math.floor(body.length * 0.75);
  const req = request(`${server.url}/dicomweb/studies`, {
    method: 'POST',
    headers: { 'Content-Type': STOW_TYPE, 'Content-Length': String(body.length) },
  });
  const outcome = new Promise<string>((resolve) => {
    req.on('response', (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (e) => resolve(`dropped (${(e as NodeJS.ErrnoException).code ?? e.message})`));
  });
  for (let off = 0; off < cut; off += 4096) {
    req.write(body.subarray(off, Math.min(cut, off + 4096)));
    await new Promise((r) => setTimeout(r, 2));
  }
  const tmp = join(dataDir, 'tmp');
  await waitFor(
    'a temp file of the unfinished part',
    async () => (existsSync(tmp) && (await readdir(tmp)).length > 0 ? true : undefined),
    20_000,
  );
  await server.kill9();
  assert.match(await outcome, /^dropped/, 'the unfinished request was never acknowledged');

  server = await startServerProcess(t, { dataDir, env });
  assert.deepEqual(await readdir(tmp), [], 'temp files of the unacknowledged part are gone');
  const indexed = await indexedSops(server.url, studyUid);
  for (let i = 0; i < 30; i++) {
    assert.ok(indexed.has(sop(i)), `acknowledged instance ${i + 1} is indexed`);
    const onDisk = await readFile(join(dataDir, 'dicom', studyUid, seriesUid, `${sop(i)}.dcm`));
    assert.ok(
      onDisk.subarray(128).equals(slices[i].subarray(128)),
      `acknowledged instance ${i + 1} is on disk unchanged`,
    );
  }
  // The client sends the unacknowledged request again. Parts stored before the crash are found with the same
  // content (202 with a Warning); none is kept with other content.
  const retry = await stowWithWarning(server.url, slices.slice(30, 40));
  if (retry.status === 202)
    assert.match(retry.warning ?? '', /^299 anatomy-gateway "\d+ instance\(s\) already stored with the same content"$/);
  else assert.equal(retry.status, 200);
  assert.equal((await indexedSops(server.url, studyUid)).size, 40);
  assert.equal((await readdir(join(dataDir, 'dicom', studyUid, seriesUid))).length, 40);
  assert.equal(await server.stop(), 0);
});

interface JobJson {
  id: string;
  kind: string;
  state: string;
  progress: number;
  attempts: number;
}

async function processJob(url: string): Promise<JobJson | undefined> {
  const res = await fetch(`${url}/api/jobs?kind=process`);
  const { jobs } = (await res.json()) as { jobs: JobJson[] };
  return jobs[0];
}

test('kill -9 during processing: after restart the job runs again once its lease lapses and succeeds, with one result', async (t) => {
  const dataDir = await tempDataDir(t);
  let server = await startServerProcess(t, { dataDir });
  const studyUid = newUid();
  const seriesUid = newUid();
  const ct = makeSyntheticCt({ dims: [160, 160, 96], spacing: [2.2, 2.2, 3], seed: 5 });
  assert.equal(await stow(server.url, syntheticDicomSliceBuffers(ct, { studyUid, seriesUid })), 200);

  // Killed while the engine runs (past reading the input, before the result is written).
  const running = await waitFor(
    'the process job to be running',
    async () => {
      const job = await processJob(server.url);
      return job && job.state === 'running' && job.progress >= 12 ? job : undefined;
    },
    60_000,
    20,
  );
  await server.kill9();
  assert.equal(running.attempts, 1);

  server = await startServerProcess(t, { dataDir });
  const done = await waitFor(
    'the job to finish',
    async () => {
      const job = await processJob(server.url);
      return job && (job.state === 'succeeded' || job.state === 'failed') ? job : undefined;
    },
    80_000,
    200,
  );
  assert.equal(done.state, 'succeeded');
  assert.equal(done.id, running.id);
  assert.equal(done.attempts, 2, 'run again after the crash, not more');
  const results = (await (await fetch(`${server.url}/api/results`)).json()) as Array<{ id: string; jobId: string }>;
  assert.equal(results.length, 1, 'one result');
  assert.equal(results[0].jobId, running.id);
  assert.deepEqual(await readdir(join(dataDir, 'results')), [results[0].id], 'no folder of the killed attempt is left');
  assert.deepEqual(await readdir(join(dataDir, 'work')), []);
  assert.equal(await server.stop(), 0);
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dcmtk } from '../dimse/dcmtk.ts';
import { dj, fetchBody, multipartRelated } from '../support/dicomweb.ts';
import { freePort } from '../support/orthanc.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { fileTree, startServerProcess } from '../support/serverProcess.ts';
import {
  makeSyntheticCt,
  newUid,
  syntheticDicomSliceBuffers,
  writeSyntheticDicomSeries,
} from '../support/syntheticCt.ts';

/**
 * A full disk, for real: DATA_DIR (embedded database included) on a small tmpfs. Below MIN_FREE_DISK_MB
 * every way in refuses with its own "out of resources" answer and writes nothing; an instance larger than
 * the space left fails the same way when the disk actually runs out; space coming back is picked up.
 */

const MB = 1024 * 1024;
const BOUNDARY = 'disk-full-boundary-51c0';
const MIN_FREE_MB = 12;

async function mountTmpfs(t: TestContext, sizeMb: number): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-diskfull-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    requireOrSkip(t, false, `mounting a tmpfs (root; ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
  t.after(async () => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function freeMb(dir: string): Promise<number> {
  const s = await statfs(dir);
  return (s.bavail * s.bsize) / MB;
}

/** Grows a filler file until `targetFreeMb` is left. */
async function fillTo(dir: string, targetFreeMb: number): Promise<string> {
  const file = join(dir, 'filler.bin');
  const fh = await open(file, 'a');
  try {
    const chunk = Buffer.alloc(256 * 1024, 0x5a);
    while ((await freeMb(dir)) - 0.25 > targetFreeMb) await fh.write(chunk);
  } finally {
    await fh.close();
  }
  return file;
}

async function stow(url: string, parts: Buffer[]): Promise<{ status: number; reasons: number[] }> {
  const res = await fetch(`${url}/dicomweb/studies`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}` },
    body: fetchBody(multipartRelated(parts, BOUNDARY)),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let reasons: number[] = [];
  try {
    const failed = (dj(JSON.parse(text), '00081198') ?? []) as unknown[];
    reasons = failed.map((f) => Number(dj(f, '00081197')?.[0]));
  } catch {
    // not DICOM JSON (a plain error)
  }
  return { status: res.status, reasons };
}

async function upload(url: string, data: Buffer, name: string): Promise<{ status: number; body: string }> {
  const form = new FormData();
  form.append('files', new Blob([fetchBody(data)]), name);
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, body: await res.text() };
}

/** The instance files and temp files under DATA_DIR (the database's own files change by themselves). */
async function inputFiles(dataDir: string): Promise<string[]> {
  return (await fileTree(dataDir)).filter(
    (f) => f.startsWith('dicom/') || f.startsWith('tmp/') || f.startsWith('volumes/'),
  );
}

test('full disk: STOW-RS 507 with 0xA700 per instance, C-STORE A700, the upload form says the disk is full; nothing half-written; accepted again when space comes back', async (t) => {
  const dataDir = await mountTmpfs(t, 128);
  if (!dataDir) return;
  const withDimse = hasProgram('storescu');
  if (!withDimse) requireOrSkip(t, false, 'DCMTK storescu for the C-STORE part (apt-get install dcmtk)');
  const dimsePort = await freePort();
  const server = await startServerProcess(t, {
    dataDir,
    env: { MIN_FREE_DISK_MB: String(MIN_FREE_MB), SERIES_STABLE_SECONDS: '3600', DIMSE_PORT: String(dimsePort) },
  });
  const ct = makeSyntheticCt({ dims: [64, 64, 6], spacing: [5, 5, 5], seed: 9 });
  const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: newUid() });
  const scuDir = await mkdtemp(join(tmpdir(), 'ag-diskfull-scu-'));
  t.after(() => rm(scuDir, { recursive: true, force: true }));
  await writeSyntheticDicomSeries(scuDir, ct, { studyUid: newUid(), seriesUid: newUid() });

  // Below MIN_FREE_DISK_MB.
  const filler = await fillTo(dataDir, MIN_FREE_MB - 6);
  const before = await inputFiles(dataDir);
  const refused = await stow(server.url, slices.slice(0, 3));
  assert.equal(refused.status, 507);
  assert.deepEqual(refused.reasons, [0xa700, 0xa700, 0xa700]);
  const up = await upload(server.url, slices[3], 'IM4.dcm');
  assert.equal(up.status, 507, up.body);
  assert.match(up.body, /disk/i);
  if (withDimse) {
    // The SCP re-reads free space at most once a second.
    await new Promise((r) => setTimeout(r, 1200));
    const r = await dcmtk('storescu', [
      '-d',
      '-aet',
      'TESTSCU',
      '-aec',
      'ANATOMYGW',
      '+sd',
      '127.0.0.1',
      String(dimsePort),
      scuDir,
    ]);
    assert.match(r.stderr + r.stdout, /DIMSE Status\s+: 0xa700/i, 'C-STORE answered Out of Resources');
  }
  assert.deepEqual(await inputFiles(dataDir), before, 'nothing was written');

  // Space comes back.
  await rm(filler);
  const ok = await stow(server.url, slices.slice(0, 3));
  assert.equal(ok.status, 200);
  assert.equal((await upload(server.url, slices[3], 'IM4.dcm')).status, 200);
  if (withDimse) {
    await new Promise((r) => setTimeout(r, 1200));
    const r = await dcmtk('storescu', [
      '-aet',
      'TESTSCU',
      '-aec',
      'ANATOMYGW',
      '+sd',
      '127.0.0.1',
      String(dimsePort),
      scuDir,
    ]);
    assert.equal(r.code, 0, `${r.stderr}\n${server.output().slice(-3000)}`);
  }

  // Above the threshold, but an instance bigger than the space left: the disk really runs out mid-write.
  const bigCt = makeSyntheticCt({ dims: [3000, 3000, 1], spacing: [0.2, 0.2, 1], seed: 10, noise: 0 });
  const [big] = syntheticDicomSliceBuffers(bigCt);
  const filler2 = await fillTo(dataDir, MIN_FREE_MB + 2);
  assert.ok(big.length > (MIN_FREE_MB + 3) * MB);
  const mid = await inputFiles(dataDir);
  process.stderr.write('  disk: sending an instance larger than the space left\n');
  const enospc = await stow(server.url, [big]).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${server.output().slice(-3000)}`);
  });
  assert.equal(enospc.status, 507);
  assert.deepEqual(enospc.reasons, [0xa700]);
  const upBig = await upload(server.url, big, 'BIG.dcm');
  assert.ok(upBig.status === 507 || upBig.status === 422, `${upBig.status} ${upBig.body}`);
  assert.match(upBig.body, /disk/i);
  assert.deepEqual(await inputFiles(dataDir), mid, 'the failed writes left nothing behind');
  await rm(filler2);
  assert.equal(
    (await stow(server.url, slices.slice(4, 6))).status,
    200,
    'the server still works after running out of disk',
  );
  assert.equal(await server.stop(), 0);
  assert.deepEqual(await readdir(join(dataDir, 'tmp')), []);
});

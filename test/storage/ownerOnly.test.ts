import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, opendir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir } from '../support/db.ts';
import { fetchBody, multipartRelated } from '../support/dicomweb.ts';
import { startServerProcess, waitFor } from '../support/serverProcess.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

const BOUNDARY = 'owner-only-boundary';

/** Every entry under `root` whose mode gives group or others any access, as "path mode". */
async function looser(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if ((info.mode & 0o077) !== 0) out.push(`${path.slice(root.length)} ${(info.mode & 0o777).toString(8)}`);
    if (!info.isDirectory()) return;
    for await (const entry of await opendir(path)) await visit(join(path, entry.name));
  };
  await visit(root);
  return out;
}

test('under umask 022, everything the server writes in DATA_DIR (embedded database, instances, results) is owner-only, and looser files found at start are narrowed with a warning', async (t) => {
  const dataDir = await tempDataDir(t);
  // A DATA_DIR made by hand, open to everyone, with a file and a folder in it.
  await chmod(dataDir, 0o755);
  await mkdir(join(dataDir, 'byhand'), { mode: 0o755 });
  await writeFile(join(dataDir, 'byhand', 'notes.txt'), 'x', { mode: 0o644 });
  await chmod(join(dataDir, 'byhand'), 0o755);
  await chmod(join(dataDir, 'byhand', 'notes.txt'), 0o644);

  const previous = process.umask(0o022); // the child inherits it
  let server;
  try {
    server = await startServerProcess(t, { dataDir, env: { SERIES_STABLE_SECONDS: '1' } });
  } finally {
    process.umask(previous);
  }
  const ct = makeSyntheticCt({ dims: [24, 24, 12], spacing: [4, 4, 4], seed: 11 });
  const res = await fetch(`${server.url}/dicomweb/studies`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}` },
    body: fetchBody(multipartRelated(syntheticDicomSliceBuffers(ct, {}), BOUNDARY)),
  });
  assert.equal(res.status, 200);
  await waitFor(
    'a result',
    async () => {
      const results = (await (await fetch(`${server.url}/api/results`)).json()) as unknown[];
      return results.length > 0 ? true : undefined;
    },
    120_000,
  );
  await waitFor('the permission check', async () =>
    server.output().includes('DATA_DIR permissions checked') ? true : undefined,
  );
  assert.match(server.output(), /were readable or writable by other users and are now owner-only: .*byhand/);
  // Only the three made by hand: the embedded database's own files were never loose (PGlite sets modes itself).
  const checked = server
    .output()
    .split('\n')
    .filter((line) => line.includes('DATA_DIR permissions checked'))
    .map((line) => JSON.parse(line) as { narrowed: number });
  assert.deepEqual(
    checked.map((c) => c.narrowed),
    [3],
  );
  assert.deepEqual(await looser(dataDir), [], 'nothing under DATA_DIR is open to group or others');
  assert.equal((await lstat(join(dataDir, 'byhand', 'notes.txt'))).mode & 0o777, 0o600);
  assert.equal((await lstat(dataDir)).mode & 0o777, 0o700);
  await server.stop();
  assert.deepEqual(await looser(dataDir), [], 'nor after a clean stop (database checkpoint)');
});

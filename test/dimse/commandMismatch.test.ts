import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, CStoreRequest, silenceLibraryLog } from '../../server/dimse/dcmjsDimse.ts';
import { startDimseServer } from '../../server/dimse/scp.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

const SR = '1.2.840.10008.5.1.4.1.1.88.11';

/** One C-STORE of `file` whose command is changed by `edit`; resolves with the status and Error Comment. */
async function cStore(
  port: number,
  file: string,
  edit: (r: InstanceType<typeof CStoreRequest>) => void,
): Promise<{ status: number; comment: string | undefined }> {
  silenceLibraryLog();
  return new Promise((resolve, reject) => {
    const client = new Client();
    const request = new CStoreRequest(file);
    edit(request);
    let answer: { status: number; comment: string | undefined } | undefined;
    request.on('response', (response: { getStatus(): number; getErrorComment(): string | undefined }) => {
      answer = { status: response.getStatus(), comment: response.getErrorComment() };
    });
    const on = client.on.bind(client) as (event: string, listener: (...args: unknown[]) => void) => void;
    on('networkError', (e) => reject(e as Error));
    on('closed', () => (answer ? resolve(answer) : reject(new Error('no C-STORE response'))));
    client.addRequest(request);
    client.send('127.0.0.1', port, 'TESTSCU', 'ANATOMYGW', { associationTimeout: 10_000 });
  });
}

test('C-STORE of a data set whose SOP Instance or Class UID contradicts the command: 0xA900 naming the mismatch, nothing stored', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const server = await startDimseServer(deps, { port: 0 });
    t.after(() => server.close());
    const [slice] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [8, 8, 1], seed: 4 }), {});
    const file = join(deps.dataDir, 'slice.dcm');
    await writeFile(file, slice);

    const otherInstance = await cStore(server.port, file, (r) => r.setAffectedSopInstanceUid('1.2.3.999'));
    assert.equal(otherInstance.status, 0xa900);
    assert.match(otherInstance.comment ?? '', /SOP Instance UID in data set differs/);

    // The command names SR (its context too); the data set is a CT image.
    const otherClass = await cStore(server.port, file, (r) => r.setAffectedSopClassUid(SR));
    assert.equal(otherClass.status, 0xa900);
    assert.match(otherClass.comment ?? '', /SOP Class UID in data set differs/);

    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM dicom_instances');
    assert.equal(rows[0].n, 0, 'nothing indexed');
    assert.deepEqual(await readdir(deps.storage.staging.dir).catch(() => []), [], 'no temp file left');

    const same = await cStore(server.port, file, () => undefined);
    assert.equal(same.status, 0x0000, 'the unchanged command is stored');
  });
});

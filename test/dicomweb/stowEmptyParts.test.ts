import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { dj, fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { FailureReason } from '../../server/dicom/failure.ts';
import { FAILURE_TEXT_TAG } from '../../server/dicomweb/stow.ts';
import { createLogger } from '../../server/log.ts';

test('empty STOW-RS parts are refused with 0xC000 saying so, one log line for the request, the good part stored', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const lines: Array<{ level: number; msg: string }> = [];
    deps.logger = createLogger(
      'info',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
          cb();
        },
      }),
    );
    const { url } = await startTestServer(deps, t);
    const [good] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [8, 8, 1], seed: 3 }), {});
    const empties = Array.from({ length: 200 }, () => Buffer.alloc(0));
    const res = await fetch(`${url}/dicomweb/studies`, {
      method: 'POST',
      body: fetchBody(multipartRelated([...empties, good], 'e')),
      headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=e' },
    });
    assert.equal(res.status, 202);
    const json = (await res.json()) as Record<string, unknown>;
    const failed = dj(json, '00081198') as Array<Record<string, unknown>>;
    assert.equal(failed.length, 200);
    for (const f of failed) {
      assert.deepEqual(dj(f, '00081197'), [FailureReason.CannotUnderstand]);
      assert.match(String(dj(f, FAILURE_TEXT_TAG)?.[0]), /part \d+ is empty \(0 bytes\)/);
    }
    assert.equal((dj(json, '00081199') ?? []).length, 1, 'the good part is stored');
    const errors = lines.filter((l) => l.level >= 50);
    assert.deepEqual(errors, [], 'no error lines for parts the client got wrong');
    assert.equal(lines.filter((l) => l.msg === 'STOW-RS request').length, 1, 'one line for the request');

    const single = await fetch(`${url}/dicomweb/studies`, {
      method: 'POST',
      body: new Uint8Array(0),
      headers: { 'Content-Type': 'application/dicom' },
    });
    assert.equal(single.status, 400);
    assert.match(await single.text(), /empty \(0 bytes\)/);
  });
});

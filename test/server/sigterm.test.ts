import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { tempDataDir } from '../support/db.ts';
import { startServerProcess } from '../support/serverProcess.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

test('SIGTERM during an upload still being sent: the process stops cleanly within its grace period and acknowledges nothing unfinished', async (t) => {
  const dataDir = await tempDataDir(t);
  const server = await startServerProcess(t, { dataDir });
  const slices = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [16, 16, 40], seed: 5 }));
  const boundary = 'sigterm-test';
  const parts = slices.map((s, i) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="s${i}.dcm"\r\n` +
          'Content-Type: application/dicom\r\n\r\n',
      ),
      s,
      Buffer.from('\r\n'),
    ]),
  );
  const body = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
  const req = request(`${server.url}/api/uploads`, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(body.length) },
  });
  const outcome = new Promise<string>((resolve) => {
    req.on('response', (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (e) => resolve(`dropped (${(e as NodeJS.ErrnoException).code ?? e.message})`));
  });
  // Half the files are sent; the rest never come (the client stalls).
  req.write(body.subarray(0, Math.floor(body.length / 2)));
  // Time for the server to read and store what came.
  await new Promise((r) => setTimeout(r, 1500));

  const started = Date.now();
  const code = await server.stop(30_000);
  const tookMs = Date.now() - started;
  assert.equal(code, 0, server.output().slice(-2000));
  assert.ok(tookMs < 25_000, `stopped after ${tookMs} ms`);
  assert.match(server.output(), /"msg":"stopped"/);
  assert.match(await outcome, /^dropped/, 'the unfinished upload was not acknowledged');
});

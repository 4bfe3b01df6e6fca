import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import dicomParser from 'dicom-parser';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../../test/support/syntheticCt.ts';
import { InstanceSpool, SPOOL_WRITE_BATCH_BYTES } from './instanceSpool.ts';
import { part10Header } from '../dicom/part10Header.ts';
import { LocalStaging } from '../storage/staging.ts';

/** The data set of a Part-10 file: what a C-STORE carries, without preamble and File Meta group. */
function dataSetOf(file: Buffer): Buffer {
  const metaLength = file.readUInt32LE(132 + 8);
  return file.subarray(132 + 12 + metaLength);
}

const noFlowControl = { pause: () => undefined, resume: () => undefined };

test('a C-STORE data set arriving in fragments is spooled behind its header and parsed from memory', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-spool-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const seriesUid = newUid();
  const [file] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [64, 64, 1] }), { studyUid: newUid(), seriesUid });
  const dataSet = dataSetOf(file);
  const sopInstanceUid = dicomParser.parseDicom(new Uint8Array(file)).string('x00080018') ?? '';
  const header = part10Header({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sourceAeTitle: 'CT1',
    receivingAeTitle: 'ANATOMYGW',
  });
  const spool = new InstanceSpool(new LocalStaging(join(dataDir, 'tmp')), header, noFlowControl);
  // Uneven fragments, as PDVs of different PDU sizes would cut them.
  for (let at = 0, k = 1; at < dataSet.length; k++) {
    const n = Math.min(dataSet.length - at, 997 * k);
    spool.write(Buffer.from(dataSet.subarray(at, at + n)));
    at += n;
  }
  spool.end();
  await spool.finished();
  assert.equal(spool.bytesWritten, header.length + dataSet.length);
  assert.ok(spool.path.startsWith(join(dataDir, 'tmp')), spool.path);
  assert.equal((await stat(spool.path)).mode & 0o777, 0o600, 'patient data: owner-only');
  // After finished() the file is complete, for a caller that takes it by name.
  assert.deepEqual(await readFile(spool.path), Buffer.concat([header, dataSet]));

  let checked: string | undefined;
  const { header: parsed, sizeBytes } = await spool.prepare((h) => {
    checked = h.sopInstanceUid;
  });
  assert.equal(checked, sopInstanceUid, 'the check sees the header before the fsync');
  assert.equal(parsed.seriesInstanceUid, seriesUid);
  assert.equal(parsed.transferSyntaxUid, '1.2.840.10008.1.2.1');
  assert.equal(parsed.hasPixelData, true);
  assert.equal(sizeBytes, header.length + dataSet.length);
  await spool.close(); // idempotent after prepare
});

test('a spool that falls behind pauses the socket and resumes it; discard removes the file', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-spool-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const events: string[] = [];
  const header = part10Header({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
  });
  const spool = new InstanceSpool(new LocalStaging(join(dataDir, 'tmp')), header, {
    pause: () => events.push('pause'),
    resume: () => events.push('resume'),
  });
  // 12 MB written at once, faster than any disk: more than the 4 MB the spool buffers. The stream ends
  // while still behind, so no 'drain' follows: the socket must be resumed all the same.
  for (let i = 0; i < 12; i++) spool.write(Buffer.alloc(1 << 20, i));
  spool.end();
  await spool.finished();
  assert.deepEqual(events, ['pause', 'resume']);
  assert.equal(spool.bytesWritten, header.length + 12 * (1 << 20));
  await spool.discard();
  assert.deepEqual(await readdir(join(dataDir, 'tmp')), []);
});

test('a refused data set is not parsed as stored: prepare rejects when the check throws', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-spool-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const [file] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [32, 32, 1] }), {
    studyUid: newUid(),
    seriesUid: newUid(),
  });
  const header = part10Header({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3.4',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
  });
  const spool = new InstanceSpool(new LocalStaging(join(dataDir, 'tmp')), header, noFlowControl);
  spool.write(Buffer.from(dataSetOf(file)));
  spool.end();
  await spool.finished();
  await assert.rejects(
    spool.prepare(() => {
      throw new Error('study mismatch');
    }),
    /study mismatch/,
  );
  await spool.discard();
  assert.deepEqual(await readdir(join(dataDir, 'tmp')), []);
});

test('a large PDV is written to the file as it arrives, not held until the data set ends', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-spool-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const header = part10Header({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3.5',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
  });
  const spool = new InstanceSpool(new LocalStaging(join(dataDir, 'tmp')), header, noFlowControl);
  t.after(() => spool.discard());
  // One PDV of a 256 KiB P-DATA-TF PDU, the size the SCP advertises; the data set has not ended.
  spool.write(Buffer.alloc(256 * 1024 - 6, 7));
  const expected = header.length + 256 * 1024 - 6;
  const deadline = Date.now() + 5000;
  let size = 0;
  while (Date.now() < deadline) {
    size = spool.path ? (await stat(spool.path)).size : 0;
    if (size === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(size, expected, 'the fragment reached the file before the end of the data set');
  assert.ok(SPOOL_WRITE_BATCH_BYTES <= 256 * 1024 - 6);
});

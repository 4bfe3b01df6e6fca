import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { TS, writePart10 } from '../../test/support/dicomPart10.ts';
import { newUid } from '../../test/support/syntheticCt.ts';
import { HEADER_READ_BYTES } from '../dicom/readHeader.ts';
import { PartFiles, StreamedInstanceFile } from './streamedFile.ts';
import { LocalStaging } from '../storage/staging.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** Delays every FileHandle.writev by `ms` until the returned function is called. */
async function slowWrites(dir: string, ms: number): Promise<() => void> {
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { writev: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const writev = proto.writev;
  proto.writev = async function (this: unknown, ...args: unknown[]) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return writev.apply(this, args);
  };
  return () => {
    proto.writev = writev;
  };
}

/** A CT instance whose header ends past HEADER_READ_BYTES: a private 300 KB element precedes the pixel data. */
function instanceWithLargeHeader(sopInstanceUid: string, seriesUid: string): Buffer {
  return writePart10(
    [
      { tag: '00080016', vr: 'UI', value: CT },
      { tag: '00080018', vr: 'UI', value: sopInstanceUid },
      { tag: '00080060', vr: 'CS', value: 'CT' },
      { tag: '0020000D', vr: 'UI', value: newUid() },
      { tag: '0020000E', vr: 'UI', value: seriesUid },
      { tag: '00290010', vr: 'LO', value: 'ANATOMYGW TEST' },
      { tag: '00291010', vr: 'OB', value: new Uint8Array(300 * 1024).fill(3) },
      { tag: '00280010', vr: 'US', value: 4 },
      { tag: '00280011', vr: 'US', value: 4 },
      { tag: '00280100', vr: 'US', value: 16 },
      { tag: '7FE00010', vr: 'OW', value: new Uint16Array(16).fill(9) },
    ],
    { sopClassUid: CT, sopInstanceUid, transferSyntax: TS.explicitLittle },
  );
}

test('prepare parses a header that ends past the in-memory head only after the last bytes are written', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-streamed-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const sopInstanceUid = `${newUid()}.1`;
  const seriesUid = newUid();
  const file = instanceWithLargeHeader(sopInstanceUid, seriesUid);
  assert.ok(file.length > 2 * HEADER_READ_BYTES);
  // Below the default write batch, so every byte is still waiting in memory when prepare() starts: its
  // last write and the header parse run together, and the parse reads back bytes that write puts there.
  const part = await StreamedInstanceFile.create(new LocalStaging(join(dataDir, 'tmp')));
  for (let at = 0; at < file.length; at += 64 * 1024) await part.write(Buffer.from(file.subarray(at, at + 64 * 1024)));
  // A slow disk: the write completes well after the parse has asked for the bytes beyond the head.
  const restore = await slowWrites(dataDir, 100);
  t.after(restore);
  const { header, sizeBytes } = await part.prepare(() => undefined);
  restore();
  assert.equal(header.sopInstanceUid, sopInstanceUid);
  assert.equal(header.seriesInstanceUid, seriesUid);
  assert.equal(header.hasPixelData, true);
  assert.equal(sizeBytes, file.length);
  const stored = await readFile(part.file);
  assert.deepEqual(stored.subarray(0, 128), Buffer.alloc(128), 'preamble zeroed');
  assert.deepEqual(stored.subarray(128), file.subarray(128));
});

test('a header rejected while the last write is in flight leaves the file closed, whole, for removal', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-streamed-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const file = instanceWithLargeHeader(`${newUid()}.1`, newUid());
  const part = await StreamedInstanceFile.create(new LocalStaging(join(dataDir, 'tmp')));
  await part.write(Buffer.from(file));
  const restore = await slowWrites(dataDir, 100);
  t.after(restore);
  await assert.rejects(
    part.prepare(() => {
      throw new Error('refused by the check');
    }),
    /refused by the check/,
  );
  restore();
  // The write that prepare() started was not cut short by closing the handle under it.
  assert.equal((await readFile(part.file)).length, file.length);
  await part.discard();
  await assert.rejects(readFile(part.file), { code: 'ENOENT' });
});

test("the parts of one request: from the second part on, the next part's file is opened ahead and is the one it gets; close() deletes a spare never used", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-streamed-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const tmp = join(dataDir, 'tmp');
  const others = async (...taken: StreamedInstanceFile[]): Promise<string[]> => {
    const names = taken.map((f) => basename(f.file));
    // The spare's open may still be on the thread pool: wait for it to show.
    for (let i = 0; i < 200; i++) {
      const rest = (await readdir(tmp)).filter((n) => !names.includes(n));
      if (rest.length > 0 || i === 199) return rest;
      await new Promise((r) => setTimeout(r, 5));
    }
    return [];
  };
  const files = new PartFiles(new LocalStaging(join(dataDir, 'tmp')));

  const first = await files.next();
  assert.deepEqual(await readdir(tmp), [basename(first.file)], 'a one-part request opens no spare');
  const second = await files.next();
  const [spare, ...more] = await others(first, second);
  assert.ok(spare !== undefined && more.length === 0, 'one file opened ahead for a third part');
  const third = await files.next();
  assert.equal(basename(third.file), spare, 'the third part gets the file opened ahead');
  assert.equal((await others(first, second, third)).length, 1, 'and a fourth is opened ahead');

  await files.close();
  for (const f of [first, second, third]) await f.discard();
  assert.deepEqual(await readdir(tmp), [], 'nothing left once the request is done');
});

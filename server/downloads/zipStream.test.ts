import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import yauzl from 'yauzl';
import { createZipStream, shouldStore, uniqueEntryNames } from './zipStream.ts';

interface ReadEntry {
  name: string;
  method: number;
  data: Buffer;
}

/** Reads a whole zip back with yauzl, an independent implementation, checking every CRC. */
export function readZip(zip: Buffer): Promise<ReadEntry[]> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true }, (error, zipfile) => {
      if (error || !zipfile) return reject(error ?? new Error('no zip'));
      const out: ReadEntry[] = [];
      zipfile.on('entry', (entry: yauzl.Entry) => {
        zipfile.openReadStream(entry, (err, stream) => {
          if (err || !stream) return reject(err ?? new Error('no stream'));
          buffer(stream).then((data) => {
            out.push({ name: entry.fileName, method: entry.compressionMethod, data });
            zipfile.readEntry();
          }, reject);
        });
      });
      zipfile.on('end', () => resolve(out));
      zipfile.on('error', reject);
      zipfile.readEntry();
    });
  });
}

test('the zip holds exactly the given files, byte-identical; compressed formats are stored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-zip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const contents: Record<string, Buffer> = {
    'liver.glb': randomBytes(3 * 1024 * 1024 + 17),
    'liver.gltf': Buffer.from(
      JSON.stringify({ asset: { version: '2.0' }, nodes: Array.from({ length: 2000 }, (_, i) => ({ name: `n${i}` })) }),
    ),
    'liver_seg.nii.gz': randomBytes(100_000),
    'empty.json': Buffer.alloc(0),
  };
  for (const [name, data] of Object.entries(contents)) await writeFile(join(dir, name), data);
  const zip = await buffer(createZipStream(Object.keys(contents).map((name) => ({ path: join(dir, name), name }))));
  const entries = await readZip(zip);
  assert.deepEqual(entries.map((e) => e.name).sort(), Object.keys(contents).sort());
  for (const e of entries) {
    assert.ok(e.data.equals(contents[e.name]), `${e.name} is byte-identical`);
    assert.equal(e.method, shouldStore(e.name) ? 0 : 8, `${e.name} compression method`);
  }
  assert.equal(entries.find((e) => e.name === 'liver.glb')?.method, 0);
  assert.equal(entries.find((e) => e.name === 'liver.gltf')?.method, 8);
});

test('same-named files from two results get distinct names in the zip', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-zip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'a'), 'first');
  await writeFile(join(dir, 'b'), 'second');
  const zip = await buffer(
    createZipStream([
      { path: join(dir, 'a'), name: 'model.glb' },
      { path: join(dir, 'b'), name: 'model.glb' },
    ]),
  );
  const entries = await readZip(zip);
  assert.deepEqual(
    entries.map((e) => [e.name, e.data.toString()]),
    [
      ['model.glb', 'first'],
      ['model (2).glb', 'second'],
    ],
  );
  assert.deepEqual(uniqueEntryNames(['x.nii.gz', 'X.nii.gz', '../../etc/passwd']), [
    'x.nii.gz',
    'X (2).nii.gz',
    'passwd',
  ]);
});

test('a missing file makes the stream fail instead of producing a silently short zip', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ag-zip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(buffer(createZipStream([{ path: join(dir, 'gone.glb'), name: 'gone.glb' }])));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ZipArchive } from 'archiver';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import type { IngestReport } from '../../server/ingest/ingestFile.ts';

const ct = makeSyntheticCt({ dims: [24, 24, 3], seed: 3 });

async function zipOf(entries: Array<{ name: string; data: Buffer; store?: boolean }>): Promise<Buffer> {
  const zip = new ZipArchive({ zlib: { level: 9 } });
  const chunks: Buffer[] = [];
  zip.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    zip.on('end', () => resolve());
    zip.on('error', reject);
  });
  for (const e of entries) zip.append(e.data, { name: e.name, store: e.store });
  await zip.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A minimal single-file NIfTI-1 (2x2x2 int16). */
function tinyNifti(): Buffer {
  const h = Buffer.alloc(352 + 16);
  h.writeInt32LE(348, 0);
  h.writeInt16LE(3, 40);
  [2, 2, 2].forEach((d, i) => h.writeInt16LE(d, 42 + 2 * i));
  h.writeInt16LE(4, 70); // datatype int16
  h.writeInt16LE(16, 72);
  [1, 1, 1, 1].forEach((v, i) => h.writeFloatLE(v, 76 + 4 * i));
  h.writeFloatLE(352, 108);
  h.write('n+1\0', 344, 'latin1');
  return h;
}

async function upload(
  url: string,
  files: Array<{ name: string; data: Buffer; field?: string }>,
): Promise<{ status: number; body: IngestReport }> {
  const form = new FormData();
  for (const f of files) form.append(f.field ?? 'files', new Blob([new Uint8Array(f.data)]), f.name);
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as IngestReport };
}

test('upload form: a real zip of DICOM folders, NIfTI, NRRD and bad files each get a specific outcome', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const seriesA = newUid();
    const seriesB = newUid();
    const a = syntheticDicomSliceBuffers(ct, { seriesUid: seriesA });
    const b = syntheticDicomSliceBuffers(ct, { seriesUid: seriesB, seriesDescription: 'Second' });
    let zip = await zipOf([
      ...a.map((d, i) => ({ name: `patient/seriesA/I${i}`, data: d })),
      ...b.map((d, i) => ({ name: `patient/seriesB/IM${i}.dcm`, data: d })),
      { name: '__MACOSX/._I0', data: Buffer.from('mac junk') },
      { name: 'zz/evil.dcm', data: a[0] },
      { name: 'a/../../b.dcm', data: a[1] },
      { name: 'bomb.bin', data: Buffer.alloc(8 * 1024 * 1024) },
      { name: 'inner.zip', data: await zipOf([{ name: 'x.dcm', data: a[2] }]) },
      { name: 'notes.txt', data: Buffer.from('hello') },
    ]);
    // archiver normalises leading "../"; write it into the name bytes directly (not covered by the CRC).
    zip = Buffer.from(zip.toString('latin1').replaceAll('zz/evil.dcm', '../evil.dcm'), 'latin1');

    const nrrd = Buffer.concat([
      Buffer.from('NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: raw\nendian: little\n\n'),
      Buffer.alloc(16),
    ]);
    const detached = Buffer.from(
      'NRRD0004\ntype: short\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: other.raw\n\n',
    );
    const res = await upload(url, [
      { name: 'study.zip', data: zip },
      { name: 'brain.nii.gz', data: gzipSync(tinyNifti()) },
      { name: 'head.nrrd', data: nrrd },
      { name: 'detached.nhdr', data: detached },
      { name: 'photo.dcm', data: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]) },
      { name: 'compressed.dcm', data: gzipSync(a[0]) },
      { name: 'single', data: b[0] },
    ]);
    assert.equal(res.status, 200);
    const accepted = res.body.accepted;
    const rejected = new Map(res.body.rejected.map((r) => [r.file, r.reason]));
    const dicom = accepted.filter((x) => x.kind === 'dicom');
    assert.equal(dicom.length, 7, JSON.stringify(res.body, null, 1));
    assert.deepEqual(new Set(dicom.map((d) => d.kind === 'dicom' && d.seriesInstanceUid)), new Set([seriesA, seriesB]));
    const volumes = accepted.filter((x) => x.kind === 'volume');
    assert.deepEqual(volumes.map((v) => v.file).sort(), ['brain.nii.gz', 'head.nrrd']);
    assert.match(rejected.get('study.zip/../evil.dcm') ?? '', /path traversal/);
    assert.match(rejected.get('study.zip/a/../../b.dcm') ?? '', /path traversal/);
    assert.match(rejected.get('study.zip/bomb.bin') ?? '', /zip bomb/);
    assert.match(rejected.get('study.zip/inner.zip') ?? '', /nested zip/);
    assert.match(rejected.get('study.zip/notes.txt') ?? '', /text file/);
    assert.match(rejected.get('detached.nhdr') ?? '', /detached-header NRRD/);
    assert.match(rejected.get('photo.dcm') ?? '', /PNG image/);
    assert.match(rejected.get('compressed.dcm') ?? '', /gzip-compressed DICOM/);
    assert.equal(
      [...rejected.keys()].some((k) => k.includes('__MACOSX')),
      false,
    );

    // Each volume file became one process job with a DATA_DIR-relative input file.
    const jobs = await db.query<{
      payload: { name: string; input: { kind: string; file: string; originalName: string } };
    }>("SELECT payload FROM jobs WHERE kind = 'process' ORDER BY created_at");
    assert.equal(jobs.rows.length, 2);
    for (const j of jobs.rows) {
      assert.equal(j.payload.input.kind, 'volume-file');
      assert.match(j.payload.input.file, /^volumes\/[0-9a-f-]+\.(nii\.gz|nrrd)$/);
      assert.match(j.payload.name, /^(brain|head)-[0-9a-f]{8}$/);
    }
    assert.deepEqual(await readdir(join(deps.dataDir, 'tmp')), [], 'no temp files left');
  });
});

test('upload form: nothing usable gives 422 with reasons; not a form gives 415', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const res = await upload(url, [
      { name: 'empty.dcm', data: Buffer.alloc(0) },
      { name: 'x.dcm', data: Buffer.from('x'), field: 'other' },
    ]);
    assert.equal(res.status, 422);
    assert.equal(res.body.accepted.length, 0);
    assert.match(res.body.rejected.find((r) => r.file === 'empty.dcm')?.reason ?? '', /empty file/);
    assert.match(res.body.rejected.find((r) => r.file === 'x.dcm')?.reason ?? '', /unexpected form field/);
    const notForm = await fetch(`${url}/api/uploads`, {
      method: 'POST',
      body: 'x',
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(notForm.status, 415);
  });
});

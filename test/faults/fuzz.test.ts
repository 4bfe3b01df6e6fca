import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipArchive } from 'archiver';
import yauzl from 'yauzl';
import { InstanceRejectedError } from '../../server/dicom/failure.ts';
import { readInstanceHeader } from '../../server/dicom/readHeader.ts';
import { gunzipHead, SNIFF_BYTES } from '../../server/dicom/sniff.ts';
import { formatOf } from '../../server/volume/formats.ts';
import { MultipartRelatedTokenizer, MultipartSyntaxError } from '../../server/dicomweb/multipartRelated.ts';
import { unsafeEntryName } from '../../server/ingest/ingestFile.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { TS } from '../support/dicomPart10.ts';
import { fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { hasTestData, testDataPath } from '../support/requirements.ts';
import { makeSyntheticCt, rng, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

/**
 * Mutation fuzzing of what parses untrusted bytes: the multipart/related tokenizer, the DICOM header
 * reader storage relies on, content sniffing and the zip reader, called directly for most cases, then a
 * few hundred mutated requests through the real HTTP endpoints. Seeds are generated (so this runs
 * anywhere) plus small real files from the shared data when present. Deterministic: a failure prints
 * its case number and seed, and the same run reproduces it.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const CASE_TIMEOUT_MS = 10_000;

const INTERESTING_32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe];

/** One to four mutations of the kinds that break parsers: flips, boundary values in length fields, cuts, splices. */
function mutate(input: Buffer, random: () => number): Buffer {
  let buf = Buffer.from(input);
  const at = (n: number): number => Math.floor(random() * Math.max(1, n));
  const rounds = 1 + at(4);
  for (let r = 0; r < rounds; r++) {
    if (buf.length === 0) buf = Buffer.from([at(256)]);
    switch (at(9)) {
      case 0: // bit flips
        for (let i = 0, n = 1 + at(8); i < n; i++) buf[at(buf.length)] ^= 1 << at(8);
        break;
      case 1: // random bytes
        for (let i = 0, n = 1 + at(16); i < n; i++) buf[at(buf.length)] = at(256);
        break;
      case 2: {
        // a 16/32-bit length field set to a boundary value, mostly in the header region
        const pos = at(Math.min(buf.length - 4, random() < 0.8 ? 2048 : buf.length));
        if (pos >= 0 && pos + 4 <= buf.length) {
          const v = INTERESTING_32[at(INTERESTING_32.length)];
          if (random() < 0.5) buf.writeUInt32LE(v >>> 0, pos);
          else buf.writeUInt16LE(v & 0xffff, pos);
        }
        break;
      }
      case 3: // truncation
        buf = buf.subarray(0, at(buf.length));
        break;
      case 4: {
        // delete a range
        const s = at(buf.length);
        buf = Buffer.concat([buf.subarray(0, s), buf.subarray(s + 1 + at(64))]);
        break;
      }
      case 5: {
        // insert random bytes
        const s = at(buf.length);
        const ins = Buffer.alloc(1 + at(32));
        for (let i = 0; i < ins.length; i++) ins[i] = at(256);
        buf = Buffer.concat([buf.subarray(0, s), ins, buf.subarray(s)]);
        break;
      }
      case 6: {
        // duplicate a chunk
        const s = at(buf.length);
        const chunk = buf.subarray(s, s + 1 + at(256));
        const d = at(buf.length);
        buf = Buffer.concat([buf.subarray(0, d), chunk, buf.subarray(d)]);
        break;
      }
      case 7: {
        // CR/LF and dashes, which matter to multipart
        const s = at(buf.length);
        const pick = ['\r\n', '--', '\r\n\r\n', '\n', ':', '\r'][at(6)];
        buf = Buffer.concat([buf.subarray(0, s), Buffer.from(pick), buf.subarray(s)]);
        break;
      }
      default: // a tail cut somewhere in the last kilobytes (pixel data, central directory)
        buf = buf.subarray(0, Math.max(0, buf.length - 1 - at(Math.min(4096, buf.length))));
    }
  }
  return buf;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`hang: ${what} took more than ${CASE_TIMEOUT_MS} ms`)),
        CASE_TIMEOUT_MS,
      );
    }),
  ]);
}

const ct = makeSyntheticCt({ dims: [24, 24, 6], spacing: [10, 10, 20], seed: 7 });
function generatedDicomSeeds(): Buffer[] {
  const seeds: Buffer[] = [];
  for (const ts of [TS.explicitLittle, TS.implicitLittle, TS.explicitBig, TS.deflatedExplicitLittle, TS.rle]) {
    seeds.push(...syntheticDicomSliceBuffers(ct, { transferSyntax: ts }).slice(0, 2));
  }
  return seeds;
}

/** Small real instances (all transfer syntaxes, odd and malformed files) from the shared data, if present. */
function realDicomSeeds(): Buffer[] {
  if (!hasTestData()) return [];
  const out: Buffer[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(dir, n);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (s.size > 0 && s.size < 300_000 && out.length < 40) out.push(readFileSync(p));
    }
  };
  walk(testDataPath('dicom', 'compressed_single'));
  walk(testDataPath('dicom', 'bad_inputs'));
  return out;
}

async function zipOf(files: Array<{ name: string; data: Buffer }>, store: boolean): Promise<Buffer> {
  const archive = new ZipArchive({ store, zlib: { level: 6 } });
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    sink.on('end', resolve);
    archive.on('error', reject);
  });
  archive.pipe(sink);
  for (const f of files) archive.append(f.data, { name: f.name });
  await archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Reads every entry of a zip from memory the way upload ingest does (yauzl, size validation, lazy entries). */
function readZip(buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('no zip'));
      let bytes = 0;
      zip.on('error', reject);
      zip.on('end', () => resolve(bytes));
      zip.on('entry', (entry: yauzl.Entry) => {
        const raw = entry.fileNameRaw ?? Buffer.from(String(entry.fileName), 'latin1');
        unsafeEntryName(raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1'));
        if (entry.isEncrypted() || entry.uncompressedSize > 64 * 1024 * 1024) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          pipeline(
            stream,
            new Writable({
              write(c: Buffer, _enc, cb) {
                bytes += c.length;
                cb();
              },
            }),
          ).then(() => zip.readEntry(), reject);
        });
      });
      zip.readEntry();
    });
  });
}

test('fuzz: multipart/related tokenizer, DICOM header reader, sniffing and zip reader survive 10,000+ mutated inputs', async (t) => {
  const random = rng(SEED);
  const dicomSeeds = [...generatedDicomSeeds(), ...realDicomSeeds()];
  const boundary = 'fuzz-boundary-3c1d';
  const multipartSeeds = [
    multipartRelated(dicomSeeds.slice(0, 3), boundary),
    multipartRelated([dicomSeeds[0]], boundary, { preamble: 'preamble', epilogue: 'epilogue' }),
    multipartRelated(dicomSeeds.slice(4, 6), boundary, { close: false }),
  ];
  const zipSeeds = [
    await zipOf(
      dicomSeeds.slice(0, 3).map((d, i) => ({ name: `series/IM${i}.dcm`, data: d })),
      false,
    ),
    await zipOf(
      dicomSeeds.slice(0, 2).map((d, i) => ({ name: `IM${i}.dcm`, data: d })),
      true,
    ),
    await zipOf(
      [
        { name: 'dir/readme.txt', data: Buffer.from('hello '.repeat(400)) },
        { name: 'a.dcm', data: dicomSeeds[1] },
      ],
      false,
    ),
  ];
  const dir = await mkdtemp(join(tmpdir(), 'ag-fuzz-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const counts = { multipart: 0, header: 0, zip: 0 };
  const started = Date.now();

  // Tokenizer: whole body at once and in random chunks; every failure must be a MultipartSyntaxError.
  for (let i = 0; i < 5000; i++) {
    const body = mutate(multipartSeeds[i % multipartSeeds.length], random);
    const chunked = i % 2 === 1;
    const caseStart = Date.now();
    try {
      const tok = new MultipartRelatedTokenizer(boundary);
      let produced = 0;
      if (chunked) {
        for (let off = 0; off < body.length;) {
          const n = 1 + Math.floor(random() * 3000);
          for (const ev of tok.write(body.subarray(off, off + n))) if (ev.type === 'data') produced += ev.chunk.length;
          off += n;
        }
      } else {
        for (const ev of tok.write(body)) if (ev.type === 'data') produced += ev.chunk.length;
      }
      for (const ev of tok.end()) if (ev.type === 'data') produced += ev.chunk.length;
      assert.ok(produced <= body.length, `case ${i}: part data never exceeds the body`);
    } catch (e) {
      if (!(e instanceof MultipartSyntaxError))
        assert.fail(`multipart case ${i} (seed ${SEED}): ${(e as Error).stack ?? String(e)}`);
    }
    assert.ok(Date.now() - caseStart < CASE_TIMEOUT_MS, `multipart case ${i} took too long`);
    counts.multipart += 1;
  }

  // Header reader as storage calls it (a file on disk), and sniffing of the same bytes.
  for (let i = 0; i < 4000; i++) {
    const data = mutate(dicomSeeds[i % dicomSeeds.length], random);
    const file = join(dir, `case-${i % 16}.dcm`);
    await writeFile(file, data);
    try {
      const head = data.subarray(0, SNIFF_BYTES);
      formatOf({
        head,
        size: data.length,
        inflated: head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b ? await gunzipHead(head) : undefined,
      });
      await withTimeout(readInstanceHeader(file), `header case ${i}`);
    } catch (e) {
      if (!(e instanceof InstanceRejectedError))
        assert.fail(`header case ${i} (seed ${SEED}): ${(e as Error).stack ?? String(e)}`);
      assert.ok(e.message.length > 0 && e.message.length < 2000, `header case ${i}: a short, specific reason`);
    }
    counts.header += 1;
  }

  // Zip reader: errors are fine, crashes and hangs are not.
  for (let i = 0; i < 1500; i++) {
    const data = mutate(zipSeeds[i % zipSeeds.length], random);
    try {
      await withTimeout(readZip(data), `zip case ${i}`);
    } catch (e) {
      if ((e as Error).message.startsWith('hang:'))
        assert.fail(`zip case ${i} (seed ${SEED}): ${(e as Error).message}`);
      assert.ok(e instanceof Error, `zip case ${i}: failures are Errors`);
    }
    counts.zip += 1;
  }
  const total = counts.multipart + counts.header + counts.zip;
  process.stderr.write(
    `  fuzz: ${JSON.stringify(counts)} = ${total} cases in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  assert.ok(total >= 10_000);
});

test('fuzz: mutated STOW-RS bodies and uploads through the HTTP endpoints are all answered 2xx/4xx, and leave no temp files', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const random = rng(SEED + 1);
    const dicomSeeds = [...generatedDicomSeeds(), ...realDicomSeeds().slice(0, 10)];
    const boundary = 'fuzz-http-9e2b';
    const zipSeed = await zipOf(
      dicomSeeds.slice(0, 3).map((d, i) => ({ name: `IM${i}.dcm`, data: d })),
      false,
    );
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    const record = (i: number, what: string, status: number | string): void => {
      if (typeof status === 'number') statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (typeof status !== 'number' || status >= 500) bad.push(`${what} case ${i}: ${status}`);
    };

    const stowCase = async (i: number): Promise<void> => {
      // Mutate either one part (a well-framed request with a broken instance) or the framing itself.
      const parts = [dicomSeeds[i % dicomSeeds.length], dicomSeeds[(i + 3) % dicomSeeds.length]];
      const body =
        i % 2 === 0
          ? multipartRelated([mutate(parts[0], random), parts[1]], boundary)
          : mutate(multipartRelated(parts, boundary), random);
      try {
        const res = await withTimeout(
          fetch(`${url}/dicomweb/studies`, {
            method: 'POST',
            headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
            body: fetchBody(body),
          }),
          `STOW case ${i}`,
        );
        await res.arrayBuffer();
        record(i, 'STOW', res.status);
      } catch (e) {
        record(i, 'STOW', `no answer (${(e as Error).message})`);
      }
    };
    const uploadCase = async (i: number): Promise<void> => {
      const data = mutate(i % 3 === 0 ? zipSeed : dicomSeeds[i % dicomSeeds.length], random);
      const form = new FormData();
      form.append('files', new Blob([fetchBody(data)]), i % 3 === 0 ? 'series.zip' : `IM${i}.dcm`);
      try {
        const res = await withTimeout(fetch(`${url}/api/uploads`, { method: 'POST', body: form }), `upload case ${i}`);
        await res.arrayBuffer();
        record(i, 'upload', res.status);
      } catch (e) {
        record(i, 'upload', `no answer (${(e as Error).message})`);
      }
    };
    const rawCase = async (i: number): Promise<void> => {
      // Framing-level garbage: a mutated form body with the original boundary.
      const form = new FormData();
      form.append('files', new Blob([fetchBody(dicomSeeds[0])]), 'a.dcm');
      const req = new Request(`${url}/api/uploads`, { method: 'POST', body: form });
      const original = Buffer.from(await req.arrayBuffer());
      try {
        const res = await withTimeout(
          fetch(`${url}/api/uploads`, {
            method: 'POST',
            headers: { 'Content-Type': req.headers.get('content-type') ?? '' },
            body: fetchBody(mutate(original, random)),
          }),
          `form case ${i}`,
        );
        await res.arrayBuffer();
        record(i, 'form', res.status);
      } catch (e) {
        record(i, 'form', `no answer (${(e as Error).message})`);
      }
    };

    const cases: Array<() => Promise<void>> = [];
    for (let i = 0; i < 200; i++) cases.push(() => stowCase(i));
    for (let i = 0; i < 100; i++) cases.push(() => uploadCase(i));
    for (let i = 0; i < 60; i++) cases.push(() => rawCase(i));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < cases.length) await cases[next++]();
      }),
    );
    process.stderr.write(
      `  fuzz over HTTP: ${cases.length} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`,
    );
    assert.deepEqual(bad, []);
    const leftovers = await readdir(join(deps.dataDir, 'tmp')).catch(() => []);
    assert.deepEqual(leftovers, [], 'no temp file outlives its request');
  });
});

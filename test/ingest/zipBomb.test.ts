import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32, deflateRawSync } from 'node:zlib';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import type { IngestReport } from '../../server/ingest/ingestFile.ts';

interface RawEntry {
  name: string;
  /** Offset of the local header this central entry points at. */
  offset: number;
  method: 0 | 8;
  crc: number;
  compressed: number;
  size: number;
}

/** A zip written by hand: the local records given, then a central directory that may point anywhere in them. */
function zip(locals: Buffer[], central: RawEntry[]): Buffer {
  const cd = central.map((e) => {
    const name = Buffer.from(e.name);
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(20, 6);
    h.writeUInt16LE(e.method, 10);
    h.writeUInt32LE(e.crc >>> 0, 16);
    h.writeUInt32LE(e.compressed, 20);
    h.writeUInt32LE(e.size, 24);
    h.writeUInt16LE(name.length, 28);
    h.writeUInt32LE(e.offset, 42);
    return Buffer.concat([h, name]);
  });
  const body = Buffer.concat(locals);
  const dir = Buffer.concat(cd);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length, 8);
  end.writeUInt16LE(central.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(body.length, 16);
  return Buffer.concat([body, dir, end]);
}

function local(name: string, data: Buffer, method: 0 | 8): { record: Buffer; entry: Omit<RawEntry, 'offset'> } {
  const packed = method === 8 ? deflateRawSync(data) : data;
  const n = Buffer.from(name);
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(method, 8);
  const crc = crc32(data);
  h.writeUInt32LE(crc >>> 0, 14);
  h.writeUInt32LE(packed.length, 18);
  h.writeUInt32LE(data.length, 22);
  h.writeUInt16LE(n.length, 26);
  return {
    record: Buffer.concat([h, n, packed]),
    entry: { name, method, crc, compressed: packed.length, size: data.length },
  };
}

async function upload(url: string, name: string, data: Buffer): Promise<IngestReport> {
  const form = new FormData();
  form.append('files', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
  return (await res.json()) as IngestReport;
}

test('zip bombs: central-directory entries sharing one stream are refused, total expansion is capped by archive size', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);

    // 50 central entries pointing at one 2 MiB stored stream: 100 MiB from a 2 MiB archive, every ratio 1:1.
    const one = local('a.bin', randomBytes(2 * 1024 * 1024), 0);
    const overlapping = zip(
      [one.record],
      Array.from({ length: 50 }, (_, i) => ({ ...one.entry, name: `copy${i}.bin`, offset: 0 })),
    );
    const r1 = await upload(url, 'overlap.zip', overlapping);
    const shared = r1.rejected.filter((r) => /shares its compressed data with another entry/.test(r.reason));
    assert.equal(shared.length, 49, JSON.stringify(r1.rejected.slice(0, 3)));
    assert.equal(r1.rejected.length, 50, 'the first copy is read (and refused as not DICOM)');

    // 60 entries of 1 MiB of zeros (each small enough to skip the per-entry ratio check): 60 MiB from ~60 KiB.
    const records: Buffer[] = [];
    const entries: RawEntry[] = [];
    let offset = 0;
    for (let i = 0; i < 60; i++) {
      const l = local(`zeros${i}.bin`, Buffer.alloc(1024 * 1024), 8);
      entries.push({ ...l.entry, offset });
      records.push(l.record);
      offset += l.record.length;
    }
    const r2 = await upload(url, 'zeros.zip', zip(records, entries));
    const capped = r2.rejected.filter((r) =>
      /the archive expands to more than \d+ bytes \(200 times its size\)/.test(r.reason),
    );
    assert.equal(capped.length, 60 - 16, `16 MiB extracted at most: ${JSON.stringify(r2.rejected.slice(-1))}`);
  });
});

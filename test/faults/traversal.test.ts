import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { fetchBody, startTestServer } from '../support/dicomweb.ts';
import { seedResultForDownloads } from '../support/load.ts';
import { fileTree } from '../support/serverProcess.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';

/** Hostile names in form uploads, zip entries and download requests: refused or harmless, nothing written outside DATA_DIR. */

const ODD_NAMES = [
  '../../escaped.dcm',
  '../../../../../../tmp/escaped-abs.dcm',
  '/etc/escaped.dcm',
  'C:\\Windows\\escaped.dcm',
  '..\\..\\escaped-win.dcm',
  'nul\u0000byte.dcm',
  `${'long'.repeat(2000)}.dcm`,
  'ünïcödé/😀 ﬁle\u202e.dcm',
  'dir/./../../escaped-dot.dcm',
];

/** A stored (uncompressed) zip with entry names exactly as given, which zip libraries would clean up. */
function rawZip(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.data);
    centrals.push(central, name);
    offset += local.length + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

test('path traversal and odd names in uploads, zip entries and download requests: refused or harmless, nothing written outside DATA_DIR', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const zipFiles = await seedResultForDownloads(deps, 1);
    const parent = dirname(deps.dataDir);
    const outsideBefore = (await readdir(parent)).filter((n) => n.includes('escaped'));
    const ct = makeSyntheticCt({ dims: [32, 32, ODD_NAMES.length + 2], spacing: [5, 5, 5], seed: 12 });
    const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid(), seriesUid: newUid() });

    // Form uploads, one per name: client names are echoed, never used as paths (or the form is refused as malformed).
    const formStatuses: string[] = [];
    for (const [i, name] of ODD_NAMES.entries()) {
      const form = new FormData();
      form.append('files', new Blob([fetchBody(slices[i])]), name);
      const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
      const text = await res.text();
      formStatuses.push(`${res.status}`);
      assert.ok(res.status === 200 || res.status === 400, `${name.slice(0, 40)}: ${res.status} ${text}`);
      if (res.status === 200) {
        const report = JSON.parse(text) as { accepted: Array<{ file: string }> };
        assert.equal(report.accepted.length, 1, text.slice(0, 300));
        assert.ok(
          !report.accepted[0].file.includes('\u0000') && report.accepted[0].file.length <= 255,
          'names are shown cleaned and bounded',
        );
      }
    }
    assert.ok(
      formStatuses.filter((s) => s === '200').length >= ODD_NAMES.length - 2,
      `most odd names are simply accepted: ${formStatuses.join(',')}`,
    );

    // Zip entries: traversal, absolute and NUL names are refused with their reason; the others are stored.
    const entries = ODD_NAMES.map((name, i) => ({ name, data: slices[i] }));
    entries.push({ name: 'fine/IM1.dcm', data: slices[ODD_NAMES.length] });
    const zipForm = new FormData();
    zipForm.append('files', new Blob([fetchBody(rawZip(entries))]), 'odd.zip');
    const zres = await fetch(`${url}/api/uploads`, { method: 'POST', body: zipForm });
    assert.equal(zres.status, 200);
    const zrep = (await zres.json()) as {
      accepted: Array<{ file: string }>;
      rejected: Array<{ file: string; reason: string }>;
    };
    const reasons = zrep.rejected.map((r) => r.reason).join('\n');
    assert.match(reasons, /path traversal/);
    assert.match(reasons, /absolute path/);
    assert.match(reasons, /NUL/);
    assert.ok(zrep.accepted.some((a) => a.file.endsWith('fine/IM1.dcm')));
    assert.ok(
      zrep.accepted.some((a) => a.file.includes('😀')),
      'a Unicode name is fine',
    );

    // Download selections and file requests with crafted addresses.
    const [good] = zipFiles;
    const resultId = good.split('/')[3];
    const crafted = [
      `/api/results/${resultId}/files/..%2F..%2F..%2Fetc%2Fpasswd`,
      `/api/results/${resultId}/files/%2Fetc%2Fpasswd`,
      `/api/results/${resultId}/files/load.glb%00.txt`,
      `/api/results/..%2F..%2Fetc/files/passwd`,
      `/api/results/${resultId}/files/${'a'.repeat(5000)}`,
      `http://evil.example/api/results/${resultId}/files/..%2F..%2Fpglite`,
      `/api/results/${resultId}/files/%F0%9F%98%80`,
      `/api/results/${resultId}/files/%E0%A4%A`,
      'file:///etc/passwd',
      '../../../etc/passwd',
    ];
    for (const address of crafted) {
      const link = await fetch(`${url}/api/downloads`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ files: [address] }),
      });
      await link.arrayBuffer();
      assert.ok(
        link.status === 400 || link.status === 404,
        `POST /api/downloads ${address.slice(0, 80)} -> ${link.status}`,
      );
      if (address.startsWith('/api/')) {
        const get = await fetch(`${url}${address}`);
        await get.arrayBuffer();
        assert.ok(get.status === 400 || get.status === 404, `GET ${address.slice(0, 80)} -> ${get.status}`);
      }
    }
    const ok = await fetch(`${url}/api/downloads`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ files: [good] }),
    });
    assert.equal(ok.status, 200, 'a genuine address still works');

    const tree = await fileTree(deps.dataDir);
    const unexpected = tree.filter(
      (f) => !/^dicom\/[0-9.]+\/[0-9.]+\/[0-9.]+\.dcm$/.test(f) && !f.startsWith(`results/${resultId}/`),
    );
    assert.deepEqual(unexpected, [], 'only stored instances and the seeded result in DATA_DIR');
    assert.deepEqual(
      (await readdir(parent)).filter((n) => n.includes('escaped')),
      outsideBefore,
      'nothing written beside DATA_DIR',
    );
  });
});

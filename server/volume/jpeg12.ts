import { createRequire } from 'node:module';
import { VolumeError } from './errors.ts';

/**
 * 12-bit DCT JPEG (JPEG Extended, process 4: what DICOM 1.2.840.10008.1.2.4.51 carries for CT/MR) decoded
 * with the IJG libjpeg 12-bit build inside dcmjs-codecs' WebAssembly (MIT, by the author of dcmjs-dimse,
 * which already depends on it). The candidates we checked and did not take:
 * - @cornerstonejs/codec-libjpeg-turbo-8bit (used for 8-bit) rejects 12-bit data; there is no 12-bit build on npm.
 * - @cornerstonejs/dicom-image-loader's pdf.js-derived JpegImage decodes 12-bit, but adds a constant +15 to every
 *   sample (its level shift is scaled from the 8-bit 2056/16, giving 2063 instead of 2048 for 12-bit),
 *   measured on both .51 files in the shared data against DCMTK's dcmdjpeg; it is also not an exported module.
 * - jpeg-js clamps to 8 bits.
 * dcmjs-codecs picks libjpeg's 12-bit decoder from the SOF precision and gives output identical to DCMTK's
 * dcmdjpeg (both IJG); the test checks that, where dcmdjpeg is installed.
 */

type Codecs = typeof import('dcmjs-codecs');

const require = createRequire(import.meta.url);
let ready: Promise<Codecs> | undefined;

/** The 4 MB WASM module is compiled on first use only: most series never need it. */
function codecs(): Promise<Codecs> {
  if (!ready) {
    const mod = require('dcmjs-codecs') as Codecs;
    // Never log the codec's messages: they can quote image content and are not ours to show.
    ready = (
      mod.NativeCodecs.isInitialized()
        ? Promise.resolve()
        : mod.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false })
    ).then(() => mod);
    ready.catch(() => {
      ready = undefined;
    });
  }
  return ready;
}

export interface Jpeg12Frame {
  rows: number;
  columns: number;
  bitsAllocated: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
}

/**
 * One monochrome frame of 9- to 12-bit DCT JPEG to little-endian 16-bit samples (the JPEG's unsigned sample
 * values; the caller applies Bits Stored and Pixel Representation). Colour 12-bit JPEG does not occur in
 * CT/MR and is refused rather than returned as unconverted YCbCr.
 */
export async function decodeJpeg12(
  encoded: Uint8Array,
  frame: Jpeg12Frame,
  precision: number,
  samplesPerPixel: number,
): Promise<Uint8Array> {
  if (precision > 12) {
    throw new VolumeError(
      'unsupported-pixel-format',
      `The JPEG frame declares ${precision}-bit samples; lossy (DCT) JPEG holds at most 12 bits, so the image is damaged or mislabelled.`,
    );
  }
  if (samplesPerPixel !== 1) {
    throw new VolumeError(
      'unsupported-pixel-format',
      `The images are ${precision}-bit JPEG with ${samplesPerPixel} samples per pixel (colour); only monochrome 12-bit JPEG can be read. Send them uncompressed.`,
    );
  }
  if (frame.bitsAllocated !== 16) {
    throw new VolumeError(
      'unsupported-pixel-format',
      `The images are ${precision}-bit JPEG but declare ${frame.bitsAllocated} bits allocated; ${precision}-bit samples need 16. The file header and the compressed data disagree.`,
    );
  }
  const { Context, NativeCodecs } = await codecs();
  const ctx = new Context({
    width: frame.columns,
    height: frame.rows,
    // Always 16: the 12-bit decoder writes two bytes per sample into a buffer sized from bitsAllocated.
    bitsAllocated: 16,
    bitsStored: precision,
    samplesPerPixel: 1,
    pixelRepresentation: frame.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: frame.photometricInterpretation || 'MONOCHROME2',
    encodedBuffer: encoded,
  });
  const out = NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: false }).getDecodedBuffer();
  if (!out) throw new Error('the JPEG decoder returned no pixels');
  return out;
}

import { createReadStream } from 'node:fs';
import dcmjs from 'dcmjs';
import type { DicomDict } from './instanceDataset.ts';
import { readInstanceDataset } from './instanceDataset.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../dicom/part10Header.ts';
import { EXPLICIT_VR_LE } from './accept.ts';
import { decodedFrame, decodedPhotometric, loadPixelSource, nativePixelData } from './frames.ts';
import type { ServedInstance } from './instances.ts';

/**
 * A stored instance as a Part 10 file in Explicit VR Little Endian (PS3.18 §8.7.3.5.2, the default
 * when a request names no syntax). An instance already in that syntax is sent byte for byte; any other
 * is re-encoded: attributes through dcmjs, Pixel Data decoded frame by frame and written native, so
 * only the stored file and one frame are in memory however large the result.
 */

interface DcmjsDictWriter {
  meta: DicomDict;
  dict: DicomDict;
  write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
}
const DicomDictClass = (dcmjs as unknown as { data: { DicomDict: new (meta: DicomDict) => DcmjsDictWriter } }).data
  .DicomDict;

function setValue(dict: DicomDict, tag: string, vr: string, value: unknown): void {
  dict[tag] = { vr, Value: [value] };
}

/** The stored file's bytes when no conversion is needed; otherwise the converted file, streamed. */
export async function* explicitLittleEndian(inst: ServedInstance): AsyncGenerator<Buffer> {
  if (inst.transferSyntaxUid === EXPLICIT_VR_LE) {
    for await (const chunk of createReadStream(inst.path, { highWaterMark: 256 * 1024 })) yield chunk as Buffer;
    return;
  }
  const header = await readInstanceDataset(inst.path);
  const meta: DicomDict = { ...header.meta };
  setValue(meta, '00020010', 'UI', EXPLICIT_VR_LE);
  setValue(meta, '00020012', 'UI', IMPLEMENTATION_CLASS_UID);
  setValue(meta, '00020013', 'SH', IMPLEMENTATION_VERSION_NAME);
  delete meta['00020000'];
  delete meta['00020016'];
  const dict: DicomDict = { ...header.dict };
  if (!header.hasPixelData) {
    yield writeHeader(meta, dict);
    return;
  }
  const src = await loadPixelSource(inst.path, inst.transferSyntaxUid);
  const { fmt } = src;
  if (!src.encapsulated) {
    // Native pixel data keeps its bytes (swapped from big endian): this also covers 1-bit frames.
    const raw = nativePixelData(src);
    yield writeHeader(meta, dict);
    yield pixelDataHeader(fmt.bitsAllocated > 8 ? 'OW' : 'OB', raw.length + (raw.length % 2));
    yield raw;
    if (raw.length % 2) yield Buffer.alloc(1);
    return;
  }
  const photometric = decodedPhotometric(src);
  if (photometric !== fmt.photometricInterpretation) setValue(dict, '00280004', 'CS', photometric);
  // Decoded colour is interleaved (R1G1B1R2...), whatever the stored arrangement.
  if (fmt.samplesPerPixel > 1) setValue(dict, '00280006', 'US', 0);
  const frameBytes = (fmt.rows * fmt.columns * fmt.samplesPerPixel * fmt.bitsAllocated) / 8;
  const first = await decodedFrame(src, 1);
  yield writeHeader(meta, dict);
  const total = frameBytes * fmt.numberOfFrames;
  const padded = total + (total % 2);
  yield pixelDataHeader(fmt.bitsAllocated > 8 ? 'OW' : 'OB', padded);
  yield first;
  for (let n = 2; n <= fmt.numberOfFrames; n++) yield await decodedFrame(src, n);
  if (padded !== total) yield Buffer.alloc(1);
}

function writeHeader(meta: DicomDict, dict: DicomDict): Buffer {
  const writer = new DicomDictClass(meta);
  writer.dict = dict;
  return Buffer.from(writer.write({ allowInvalidVRLength: true }));
}

/** (7FE0,0010) in Explicit VR Little Endian with a defined length. */
function pixelDataHeader(vr: 'OB' | 'OW', length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(0x7fe0, 0);
  b.writeUInt16LE(0x0010, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt32LE(length, 8);
  return b;
}

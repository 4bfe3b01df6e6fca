import dcmjs from 'dcmjs';

/**
 * The one place that touches dcmjs's data layer (it ships no typings). We use it only to encode and
 * decode DICOM: a "naturalized" data set is a plain object keyed by attribute keyword, sequences as
 * arrays of such objects, binary values as ArrayBuffers.
 */

export type NaturalDataset = Record<string, unknown>;

interface DicomDictInstance {
  dict: Record<string, unknown>;
  meta: Record<string, unknown>;
  write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
}

interface DcmjsData {
  DicomDict: new (meta: Record<string, unknown>) => DicomDictInstance;
  DicomMessage: {
    readFile(
      buffer: ArrayBuffer,
      options?: { untilTag?: string; includeUntilTagValue?: boolean; ignoreErrors?: boolean },
    ): DicomDictInstance;
  };
  DicomMetaDictionary: {
    naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
    denaturalizeDataset(ds: NaturalDataset): Record<string, unknown>;
  };
}

const data = (dcmjs as unknown as { data: DcmjsData }).data;
const log = (dcmjs as unknown as { log?: { setLevel?: (l: string) => void } }).log;
// dcmjs warns on the console about every attribute it does not know; we write only standard ones.
log?.setLevel?.('error');

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Reads the attributes before Pixel Data of a Part-10 file (the pixel data is not needed to copy headers). */
export function readHeaderDataset(file: Buffer): NaturalDataset {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const dict = data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false });
  return data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

/** Reads a whole Part-10 file (tests and verification). */
export function readDataset(file: Buffer): NaturalDataset {
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const dict = data.DicomMessage.readFile(ab);
  return data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

/** Encodes a naturalized data set as a Part-10 file in Explicit VR Little Endian. */
export function writePart10(
  dataset: NaturalDataset,
  implementation: { classUid: string; versionName: string },
): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset.SOPClassUID,
    MediaStorageSOPInstanceUID: dataset.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: implementation.classUid,
    ImplementationVersionName: implementation.versionName,
  };
  const dict = new data.DicomDict(data.DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = data.DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}

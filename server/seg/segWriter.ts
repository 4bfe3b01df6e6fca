import { randomUUID } from 'node:crypto';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../dicom/part10Header.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { UNKNOWN_TERMINOLOGY, terminologyFor, type CodedConcept } from '../terminology/structures.ts';
import type { LabelMap, Rgb, SegmentAlgorithm } from '../volume/volume.ts';
import { writePart10, type NaturalDataset } from './dcmjsData.ts';
import type { FramePlane } from './framePlanes.ts';
import { SegSourceError, segFunctionalGroups } from './segFunctionalGroups.ts';

export { SegSourceError } from './segFunctionalGroups.ts';

/**
 * DICOM Segmentation (PS3.3 A.51), binary, written by us on top of dcmjs's encoder. dcmjs's own
 * `derivations.Segmentation` copies the whole source header, writes a frame for every slice of every
 * segment and leaves the functional groups to Cornerstone adapters; a medical archive needs exactly
 * the Segmentation IOD, only non-empty frames, and a derivation reference per frame, so the data set
 * is assembled here and dcmjs only encodes it.
 *
 * Frames are ordered by segment, then by slice; frame f of segment s on slice k carries
 * Referenced Segment Number s, the Image Position (Patient) of slice k and, when slice k shares the
 * pixel grid of a source image (framePlanes.ts), that image in Derivation Image / Source Image. The
 * source series and every image the label map was computed from are referenced at the top level
 * (Source Image Sequence, Referenced Series Sequence), whichever frames name an image.
 */

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';

export interface SegSegment {
  label: number;
  name: string;
  color?: Rgb | number[];
  /** How this segment was made; without it, AUTOMATIC by `SegOptions.algorithmName`. */
  algorithm?: SegmentAlgorithm;
  /** TotalSegmentator class id: codes the segment whatever its display name. */
  totalSegmentatorId?: number;
}

export interface SegSourceSeries {
  /** Attributes of one source instance (Patient and Study modules are copied from it). */
  header: NaturalDataset;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Empty when the source has none: then every frame must name the image it lies on (PS3.3 A.51.5.1). */
  frameOfReferenceUid: string;
  /** The plane of each slice k of the label map grid and the source image it is aligned with. */
  planes: FramePlane[];
  /** Every source instance the label map was computed from. */
  instances: Array<{ sopClassUid: string; sopInstanceUid: string }>;
}

export interface SegOptions {
  /** The label map on the source grid (see alignToGrid). */
  labelMap: LabelMap;
  segments: SegSegment[];
  source: SegSourceSeries;
  algorithmName: string;
  algorithmVersion?: string;
  seriesDescription?: string;
  seriesNumber?: number;
  manufacturerModelName?: string;
  softwareVersion?: string;
  deviceSerialNumber?: string;
  /** For tests: fixed UIDs and time. */
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  now?: Date;
}

export interface SegWriteResult {
  buffer: Buffer;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  frames: number;
  /** Segment number (1-based) per label, for the segments that have at least one frame. */
  segmentNumbers: Map<number, number>;
  warnings: string[];
}

export class EmptySegmentationSegError extends Error {
  constructor() {
    super('the segmentation has no voxel in any segment, so there is nothing to write as DICOM SEG');
    this.name = 'EmptySegmentationSegError';
  }
}

/** A UID in the 2.25 form (PS3.5 B.2): no registered root needed, unique by construction. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

const code = (c: CodedConcept): NaturalDataset => ({
  CodeValue: c.value,
  CodingSchemeDesignator: c.scheme,
  CodeMeaning: c.meaning,
});

/** sRGB (0..1) to the DICOM CIELab encoding (PS3.3 C.10.7.1.1: L 0..100, a/b -128..127, scaled to 0..65535). */
export function rgbToDicomLab(rgb: ArrayLike<number>): [number, number, number] {
  const lin = [0, 1, 2].map((i) => {
    const c = Math.min(1, Math.max(0, rgb[i]));
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  // D65 sRGB -> XYZ, then to Lab against the D65 white point.
  const x = (0.4124564 * lin[0] + 0.3575761 * lin[1] + 0.1804375 * lin[2]) / 0.95047;
  const y = 0.2126729 * lin[0] + 0.7151522 * lin[1] + 0.072175 * lin[2];
  const z = (0.0193339 * lin[0] + 0.119192 * lin[1] + 0.9503041 * lin[2]) / 1.08883;
  const f = (t: number): number => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
  const L = 116 * f(y) - 16;
  const a = 500 * (f(x) - f(y));
  const b = 200 * (f(y) - f(z));
  const clamp = (v: number): number => Math.min(65535, Math.max(0, Math.round(v)));
  return [clamp((L * 65535) / 100), clamp(((a + 128) * 65535) / 255), clamp(((b + 128) * 65535) / 255)];
}

function dicomDate(d: Date): string {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
}

function dicomTime(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}${String(d.getMinutes()).padStart(2, '0')}${String(d.getSeconds()).padStart(2, '0')}`;
}

/** Patient, Study and related attributes copied unchanged from the source (never logged). */
const COPIED_FROM_SOURCE = [
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'PatientAge',
  'PatientWeight',
  'PatientSize',
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'StudyID',
  'AccessionNumber',
  'StudyDescription',
  'PositionReferenceIndicator',
  'BodyPartExamined',
] as const;
/** Type 2 attributes: present even when empty. */
const TYPE2 = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyDate',
  'StudyTime',
  'ReferringPhysicianName',
  'StudyID',
  'AccessionNumber',
  'PositionReferenceIndicator',
];

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max);
}

export function writeSeg(opts: SegOptions): SegWriteResult {
  const { labelMap, source } = opts;
  const [nx, ny, nz] = labelMap.dims;
  const sliceSize = nx * ny;
  const warnings: string[] = [];
  const data = labelMap.data;

  // Which (segment, slice) pairs contain the segment: one pass over the label map.
  const labels = new Map<number, SegSegment>();
  for (const s of opts.segments) if (s.label > 0) labels.set(s.label, s);
  const present = new Map<number, Uint8Array>();
  for (let k = 0; k < nz; k++) {
    const base = k * sliceSize;
    for (let p = 0; p < sliceSize; p++) {
      const v = data[base + p];
      if (v === 0) continue;
      let slices = present.get(v);
      if (!slices) {
        slices = new Uint8Array(nz);
        present.set(v, slices);
      }
      slices[k] = 1;
    }
  }
  const unknown = [...present.keys()].filter((l) => !labels.has(l));
  if (unknown.length > 0)
    warnings.push(
      `label values without a segment description were written as "label_<n>": ${unknown.sort((a, b) => a - b).join(', ')}`,
    );
  const written = [...present.keys()]
    .sort((a, b) => a - b)
    .map((l) => labels.get(l) ?? { label: l, name: `label_${l}` });
  if (written.length === 0) throw new EmptySegmentationSegError();

  const segmentNumbers = new Map<number, number>();
  written.forEach((s, i) => segmentNumbers.set(s.label, i + 1));
  const frames: Array<{ segment: number; label: number; slice: number }> = [];
  for (const s of written) {
    const slices = present.get(s.label) as Uint8Array;
    for (let k = 0; k < nz; k++)
      if (slices[k]) frames.push({ segment: segmentNumbers.get(s.label) as number, label: s.label, slice: k });
  }

  // Binary frames are concatenated bit by bit (PS3.5 8.1.1: no padding between frames), first pixel in the lowest bit.
  const totalBits = frames.length * sliceSize;
  const pixelBytes = Math.ceil(totalBits / 8);
  const pixels = new Uint8Array(pixelBytes + (pixelBytes % 2));
  let bit = 0;
  for (const f of frames) {
    const base = f.slice * sliceSize;
    for (let p = 0; p < sliceSize; p++, bit++) {
      if (data[base + p] === f.label) pixels[bit >>> 3] |= 1 << (bit & 7);
    }
  }

  for (const [name, uid] of [
    ['Study Instance UID', source.studyInstanceUid],
    ['Series Instance UID', source.seriesInstanceUid],
  ])
    if (!isUsableUid(uid))
      throw new SegSourceError(`the source images have no ${name}, so a SEG could not be filed with them`);
  const now = opts.now ?? new Date();
  const seriesInstanceUid = opts.seriesInstanceUid ?? newUid();
  const sopInstanceUid = opts.sopInstanceUid ?? newUid();
  const dimensionOrganizationUid = newUid();
  const h = source.header;

  const segmentSequence = written.map((s): NaturalDataset => {
    const term = terminologyFor(s);
    if (!term) warnings.push(`no SNOMED CT code is known for segment "${s.name}"; it is coded as Tissue`);
    const t = term ?? UNKNOWN_TERMINOLOGY;
    const item: NaturalDataset = {
      SegmentNumber: segmentNumbers.get(s.label),
      SegmentLabel: truncate(s.name, 64),
      SegmentAlgorithmType: s.algorithm?.type ?? 'AUTOMATIC',
      SegmentAlgorithmName: truncate(s.algorithm?.name ?? opts.algorithmName, 64),
      SegmentedPropertyCategoryCodeSequence: [code(t.category)],
      SegmentedPropertyTypeCodeSequence: [
        t.typeModifier
          ? { ...code(t.type), SegmentedPropertyTypeModifierCodeSequence: [code(t.typeModifier)] }
          : code(t.type),
      ],
    };
    if (t.region) {
      item.AnatomicRegionSequence = [
        t.regionModifier
          ? { ...code(t.region), AnatomicRegionModifierSequence: [code(t.regionModifier)] }
          : code(t.region),
      ];
    }
    if (s.algorithm) {
      // PS3.3 C.8.20.2: the algorithm's identity and version, family from CID 7162 (thresholds, closing, hole filling).
      item.SegmentationAlgorithmIdentificationSequence = [
        {
          AlgorithmFamilyCodeSequence: [
            { CodeValue: '123104', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Morphological Operations' },
          ],
          AlgorithmName: truncate(s.algorithm.name, 64),
          AlgorithmVersion: truncate(s.algorithm.version, 64),
        },
      ];
    }
    if (s.color && s.color.length >= 3) item.RecommendedDisplayCIELabValue = rgbToDicomLab(s.color);
    return item;
  });

  const spatial = segFunctionalGroups(labelMap, frames, source, dimensionOrganizationUid);
  warnings.push(...spatial.warnings);

  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUid,
    ImageType: ['DERIVED', 'PRIMARY'],
    InstanceCreationDate: dicomDate(now),
    InstanceCreationTime: dicomTime(now),
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    SeriesDate: dicomDate(now),
    SeriesTime: dicomTime(now),
    Modality: 'SEG',
    Manufacturer: 'anatomy-gateway',
    ManufacturerModelName: truncate(opts.manufacturerModelName ?? 'anatomy-gateway', 64),
    DeviceSerialNumber: truncate(opts.deviceSerialNumber ?? '1', 64),
    SoftwareVersions: truncate(opts.softwareVersion ?? '1', 64),
    SeriesInstanceUID: seriesInstanceUid,
    SeriesNumber: opts.seriesNumber ?? 9001,
    SeriesDescription: truncate(opts.seriesDescription ?? `Segmentation (${opts.algorithmName})`, 64),
    InstanceNumber: 1,
    ContentLabel: 'SEGMENTATION',
    ContentDescription: truncate(
      `${opts.algorithmName}${opts.algorithmVersion ? ` ${opts.algorithmVersion}` : ''}`,
      64,
    ),
    ContentCreatorName: '',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: ny,
    Columns: nx,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentsOverlap: 'NO',
    NumberOfFrames: frames.length,
    SegmentSequence: segmentSequence,
    ...spatial.attributes,
    PixelData: pixels.buffer,
    _vrMap: { PixelData: 'OB' },
  };
  for (const key of COPIED_FROM_SOURCE) {
    // Position Reference Indicator belongs to the Frame of Reference module.
    if (key === 'PositionReferenceIndicator' && dataset.FrameOfReferenceUID === undefined) continue;
    const v = h[key];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) dataset[key] = v;
    else if (TYPE2.includes(key)) dataset[key] = '';
  }
  dataset.StudyInstanceUID = source.studyInstanceUid;

  const buffer = writePart10(dataset, { classUid: IMPLEMENTATION_CLASS_UID, versionName: IMPLEMENTATION_VERSION_NAME });
  return { buffer, sopInstanceUid, seriesInstanceUid, frames: frames.length, segmentNumbers, warnings };
}

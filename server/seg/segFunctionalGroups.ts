import { column } from '../volume/geometry.ts';
import type { LabelMap } from '../volume/volume.ts';
import type { NaturalDataset } from './dcmjsData.ts';
import type { FramePlane } from './framePlanes.ts';

/**
 * Where a SEG's frames lie and what they were derived from (PS3.3 A.51.5, C.7.6.16.2): the Multi-frame
 * Functional Groups, the Multi-frame Dimension module and the top-level references, for frames that
 * each cover one slice of the label map.
 *
 * With a Frame of Reference, every frame carries its Plane Position (Patient), the orientation and
 * pixel measures are shared, and the frames are indexed by segment and position. Each frame's
 * Derivation Image names the source image it lies on, pixel for pixel, or is empty (Type 2) when it
 * lies on a resampled slice that matches no image. Without a Frame of Reference (a source that lacks
 * one) the frames can only be placed through their images: each must name one, the plane macros are
 * left out, as A.51.5 allows them only in a Frame of Reference, and the frames are indexed by segment
 * and In-Stack Position.
 */

export interface SegFrame {
  /** Segment Number, 1-based. */
  segment: number;
  /** Slice k of the label map grid. */
  slice: number;
}

export interface SegReferences {
  seriesInstanceUid: string;
  /** Empty when the source has none. */
  frameOfReferenceUid: string;
  planes: FramePlane[];
  instances: Array<{ sopClassUid: string; sopInstanceUid: string }>;
}

const DERIVATION_CODE = { CodeValue: '113076', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Segmentation' };
const PURPOSE_CODE = {
  CodeValue: '121322',
  CodingSchemeDesignator: 'DCM',
  CodeMeaning: 'Source image for image processing operation',
};

/** The source series lacks what a SEG needs (UIDs, a way to place the frames); the reason is for the job log. */
export class SegSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SegSourceError';
  }
}

/** DICOM DS: at most 16 characters. */
export function ds(v: number): number {
  if (Math.abs(v) < 1e-10) return 0;
  for (let p = 10; p >= 1; p--) {
    const s = Number(v.toPrecision(p));
    if (String(s).length <= 16) return s;
  }
  return Math.round(v);
}

/** Patient Orientation (PS3.3 C.7.6.1.1.1) of a direction in LPS: its letters, most significant first. */
export function orientationLetters(v: readonly number[]): string {
  const letters = [
    ['L', 'R'],
    ['P', 'A'],
    ['H', 'F'],
  ];
  return [0, 1, 2]
    .filter((d) => Math.abs(v[d]) > 1e-4)
    .sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]))
    .map((d) => letters[d][v[d] > 0 ? 0 : 1])
    .join('');
}

/** The attributes to merge into the SEG data set, and warnings for the job log. */
export function segFunctionalGroups(
  labelMap: Pick<LabelMap, 'dims' | 'spacing' | 'direction'>,
  frames: readonly SegFrame[],
  refs: SegReferences,
  dimensionOrganizationUid: string,
): { attributes: NaturalDataset; warnings: string[] } {
  const warnings: string[] = [];
  if (refs.planes.length !== labelMap.dims[2])
    throw new Error(`${refs.planes.length} frame planes for ${labelMap.dims[2]} slices`);
  const placed = refs.frameOfReferenceUid !== '';
  const unreferenced = frames.filter((f) => !refs.planes[f.slice].source).length;
  if (unreferenced > 0 && !placed)
    throw new SegSourceError(
      'the source images have no Frame of Reference UID and were resampled, so the segmentation frames could be placed neither in their coordinate system nor on the images themselves',
    );
  if (unreferenced > 0)
    warnings.push(
      `${unreferenced} of ${frames.length} frames lie on slices of the resampled grid that match no source image; they carry their own position and orientation and reference the series, not an image`,
    );

  const perFrame = frames.map((f): NaturalDataset => {
    const ref = refs.planes[f.slice].source;
    const derivation = ref
      ? [
          {
            DerivationCodeSequence: [DERIVATION_CODE],
            SourceImageSequence: [
              {
                ReferencedSOPClassUID: ref.sopClassUid,
                ReferencedSOPInstanceUID: ref.sopInstanceUid,
                ...(ref.frameNumber !== undefined ? { ReferencedFrameNumber: ref.frameNumber } : {}),
                PurposeOfReferenceCodeSequence: [PURPOSE_CODE],
              },
            ],
          },
        ]
      : [];
    return placed
      ? {
          FrameContentSequence: [{ DimensionIndexValues: [f.segment, f.slice + 1] }],
          PlanePositionSequence: [{ ImagePositionPatient: refs.planes[f.slice].position.map(ds) }],
          DerivationImageSequence: derivation,
          SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
        }
      : {
          FrameContentSequence: [
            { StackID: '1', InStackPositionNumber: f.slice + 1, DimensionIndexValues: [f.segment, f.slice + 1] },
          ],
          DerivationImageSequence: derivation,
          SegmentIdentificationSequence: [{ ReferencedSegmentNumber: f.segment }],
        };
  });

  const row = column(labelMap.direction, 0);
  const col = column(labelMap.direction, 1);
  const attributes: NaturalDataset = {
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUid }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUid,
        DimensionIndexPointer: 0x0062000b,
        FunctionalGroupPointer: 0x0062000a,
        DimensionDescriptionLabel: 'Segment Number',
      },
      placed
        ? {
            DimensionOrganizationUID: dimensionOrganizationUid,
            DimensionIndexPointer: 0x00200032,
            FunctionalGroupPointer: 0x00209113,
            DimensionDescriptionLabel: 'Image Position Patient',
          }
        : {
            DimensionOrganizationUID: dimensionOrganizationUid,
            DimensionIndexPointer: 0x00209057,
            FunctionalGroupPointer: 0x00209111,
            DimensionDescriptionLabel: 'In-Stack Position Number',
          },
    ],
    SharedFunctionalGroupsSequence: [
      placed
        ? {
            PixelMeasuresSequence: [
              {
                PixelSpacing: [ds(labelMap.spacing[1]), ds(labelMap.spacing[0])],
                SliceThickness: ds(labelMap.spacing[2]),
                SpacingBetweenSlices: ds(labelMap.spacing[2]),
              },
            ],
            PlaneOrientationSequence: [{ ImageOrientationPatient: [...row, ...col].map(ds) }],
          }
        : {},
    ],
    PerFrameFunctionalGroupsSequence: perFrame,
    // General Reference: the images the segmentation was computed from, named even when no frame lies
    // on one of them, so that the Referenced Series Sequence always indexes references of this instance.
    SourceImageSequence: refs.instances.map((i) => ({
      ReferencedSOPClassUID: i.sopClassUid,
      ReferencedSOPInstanceUID: i.sopInstanceUid,
      PurposeOfReferenceCodeSequence: [PURPOSE_CODE],
    })),
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: refs.seriesInstanceUid,
        ReferencedInstanceSequence: refs.instances.map((i) => ({
          ReferencedSOPClassUID: i.sopClassUid,
          ReferencedSOPInstanceUID: i.sopInstanceUid,
        })),
      },
    ],
  };
  if (placed) attributes.FrameOfReferenceUID = refs.frameOfReferenceUid;
  // Without Image Orientation (Patient) the General Image module asks for the anatomical directions.
  else attributes.PatientOrientation = [orientationLetters(row), orientationLetters(col)];
  return { attributes, warnings };
}

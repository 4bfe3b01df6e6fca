/**
 * Terminology shared by readers, engines and the mesher.
 *
 * - Volume: a 3D grid of voxels with its patient-space geometry in DICOM LPS millimetres.
 *   Index (i, j, k) maps to the world point `origin + direction * (spacing ⊙ [i, j, k])`.
 *   Voxel (0,0,0) is at `origin` (the voxel centre, as DICOM ImagePositionPatient and NIfTI do).
 * - Label map: a Volume whose data are integer labels (0 = background).
 * - Segment: one label of a label map with a display name and colour.
 */

export type Vec3 = [number, number, number];

/**
 * Direction cosines, row-major 3x3. Column k is the unit vector (in LPS) along index axis k:
 * column 0 = row direction (i), column 1 = column direction (j), column 2 = slice direction (k).
 */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

export type VoxelArray =
  Int16Array | Uint16Array | Int32Array | Uint8Array | Int8Array | Uint32Array | Float32Array | Float64Array;
export type LabelArray = Uint8Array | Uint16Array;

export interface Volume<T extends VoxelArray = VoxelArray> {
  /** Grid size [i, j, k]; i varies fastest in `data`. */
  dims: Vec3;
  /** Voxel size in mm along i, j, k. */
  spacing: Vec3;
  /** LPS position (mm) of the centre of voxel (0, 0, 0). */
  origin: Vec3;
  direction: Mat3;
  /** Values in real-world units (HU for CT, after RescaleSlope/Intercept). */
  data: T;
  /** DICOM modality when known ('CT', 'MR', ...). */
  modality?: string;
}

export type LabelMap = Volume<LabelArray>;

export type Rgb = [number, number, number];

export interface Segment {
  /** Value of this segment in the label map (1..n). */
  label: number;
  /** Display name, e.g. "liver" or "Body". */
  name: string;
  /** Linear colour, each channel 0..1. */
  color: Rgb;
  /** 0..1; below 1 the glTF material uses alphaMode BLEND. */
  opacity?: number;
  /** TotalSegmentator class id when the label came from TotalSegmentator. */
  totalSegmentatorId?: number;
  /** What the segment holds and how far it can be trusted, in a sentence or two, for people. */
  note?: string;
  /** How it was made, for a DICOM SEG's Segment Algorithm Type, Name and Version. */
  algorithm?: SegmentAlgorithm;
}

export interface SegmentAlgorithm {
  /** DICOM Segment Algorithm Type: AUTOMATIC without user input, SEMIAUTOMATIC with. */
  type: 'AUTOMATIC' | 'SEMIAUTOMATIC';
  name: string;
  version: string;
}

export const IDENTITY_DIRECTION: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function voxelCount(v: Pick<Volume, 'dims'>): number {
  return v.dims[0] * v.dims[1] * v.dims[2];
}

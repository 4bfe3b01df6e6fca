import { column, dot, normalize } from '../volume/geometry.ts';
import type { SourceSlice } from '../volume/dicomSeries.ts';
import type { Vec3, Volume } from '../volume/volume.ts';

/**
 * Where each slice of a label map lies as a SEG frame, and which source image it may name. A frame
 * references an image only when it shares that image's pixel grid: every pixel centre of the frame
 * within ALIGNMENT_TOLERANCE of the centre of the same pixel in the image (a fraction of a pixel in
 * the plane, of the slice spacing across it). Such a frame takes the image's own Image Position, so
 * the two line up exactly. A slice of a resampled series (gantry tilt corrected, uneven spacing
 * evened out) matches no image: it keeps its computed position and names no image; the series is
 * still referenced as a whole (segWriter.ts).
 */

export const ALIGNMENT_TOLERANCE = 0.05;

export interface ReferencedImage {
  sopClassUid: string;
  sopInstanceUid: string;
  /** For a frame of a multi-frame image. */
  frameNumber?: number;
}

export interface FramePlane {
  position: Vec3;
  source: ReferencedImage | undefined;
}

type Grid = Pick<Volume, 'dims' | 'spacing' | 'origin' | 'direction'>;

const sub = (a: ArrayLike<number>, b: ArrayLike<number>): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** Largest offset, over the image corners, between the grid's slice plane and the source image, in pixels and slices. */
export function misalignment(grid: Grid, k: number, slice: SourceSlice): number {
  const [nx, ny] = grid.dims;
  const [sx, sy, sz] = grid.spacing;
  const row = column(grid.direction, 0);
  const col = column(grid.direction, 1);
  const normal = column(grid.direction, 2);
  const plane = [0, 1, 2].map((d) => grid.origin[d] + normal[d] * sz * k);
  const srcRow = normalize(slice.orientation.slice(0, 3));
  const srcCol = normalize(slice.orientation.slice(3, 6));
  // PixelSpacing is the distance between rows, then between columns.
  const [srcSy, srcSx] = slice.pixelSpacing;
  let worst = 0;
  for (const i of [0, nx - 1]) {
    for (const j of [0, ny - 1]) {
      const ours = [0, 1, 2].map((d) => plane[d] + row[d] * sx * i + col[d] * sy * j);
      const theirs = [0, 1, 2].map((d) => slice.position[d] + srcRow[d] * srcSx * i + srcCol[d] * srcSy * j);
      const off = sub(theirs, ours);
      worst = Math.max(
        worst,
        Math.abs(dot(off, row)) / sx,
        Math.abs(dot(off, col)) / sy,
        Math.abs(dot(off, normal)) / sz,
      );
    }
  }
  return worst;
}

/** One plane per slice k of the grid, with the source image it is aligned with, if any. */
export function framePlanes(grid: Grid, slices: readonly SourceSlice[]): FramePlane[] {
  const normal = column(grid.direction, 2);
  const along = slices.map((s) => dot(sub(s.position, grid.origin), normal));
  const planes: FramePlane[] = [];
  for (let k = 0; k < grid.dims[2]; k++) {
    const z = k * grid.spacing[2];
    const position = [0, 1, 2].map((d) => grid.origin[d] + normal[d] * z) as Vec3;
    // The nearest image along the normal is the only candidate: two images cannot share a plane.
    let nearest = -1;
    for (let j = 0; j < slices.length; j++)
      if (nearest < 0 || Math.abs(along[j] - z) < Math.abs(along[nearest] - z)) nearest = j;
    const slice = slices[nearest];
    if (slice && misalignment(grid, k, slice) <= ALIGNMENT_TOLERANCE) {
      planes.push({
        position: [...slice.position],
        source: {
          sopClassUid: slice.sopClassUid,
          sopInstanceUid: slice.sopInstanceUid,
          ...(slice.frameNumber !== undefined ? { frameNumber: slice.frameNumber } : {}),
        },
      });
    } else {
      planes.push({ position, source: undefined });
    }
  }
  return planes;
}

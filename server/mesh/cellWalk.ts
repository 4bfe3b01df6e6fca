import type { LabelArray, Vec3 } from '../volume/volume.ts';

/**
 * The walk over the cells of a binary mask that surface nets and the well-composedness check share.
 * A cell is the cube between eight voxel centres; its configuration has bit `x + 2y + 4z` set when
 * that corner is inside. Only cells whose corners differ are visited.
 *
 * The grid is walked two voxel slices at a time, so memory is O(slice), not O(volume). Each padded
 * slice comes with, per row, the columns where the mask changes value (a row starts and ends
 * outside, so it has an even number of them). A cell whose eight corners agree makes nothing, and
 * between two such columns of its four rows every cell of a row agrees with its neighbour along x,
 * so the walk jumps over those stretches instead of reading 8 corners per cell: most cells of a CT
 * lie deep inside or outside a structure.
 */

export interface IndexBox {
  /** Inclusive voxel index bounds. */
  min: Vec3;
  max: Vec3;
}

/** The voxels whose label `l` has `include[l] === 1`, plus `added` (volume indices), inside `box`. */
export interface MaskSource {
  data: LabelArray;
  dims: Vec3;
  include: Uint8Array;
  box: IndexBox;
  /** Extra inside voxels, by slice z: their in-slice indices `y * nx + x`. */
  added?: Map<number, number[]>;
}

export interface CellVisitor {
  /** Called before the cells of slab cz (between padded slices cz and cz + 1). */
  slab(cz: number): void;
  /**
   * A mixed cell: `c` its index in the slab (`cy * (X - 1) + cx`), cx/cy/cz its position in the
   * padded grid (padded index 0 is voxel index box.min - 1).
   */
  cell(c: number, cx: number, cy: number, config: number): void;
}

/** Size of the padded grid: the box plus one background voxel on each side. */
export function paddedSize(box: IndexBox): Vec3 {
  return [box.max[0] - box.min[0] + 3, box.max[1] - box.min[1] + 3, box.max[2] - box.min[2] + 3];
}

export function walkMixedCells(mask: MaskSource, visitor: CellVisitor, signal?: AbortSignal): void {
  const { data, dims, include, box, added } = mask;
  const [nx, ny] = dims;
  const [x0, y0, z0] = box.min;
  const z1 = box.max[2];
  const [X, Y, Z] = paddedSize(box);
  const CX = X - 1;

  let sliceA = new Uint8Array(X * Y);
  let sliceB = new Uint8Array(X * Y);
  let changesA = new Int32Array(X * Y);
  let changesB = new Int32Array(X * Y);
  // Row py's change columns are changes[rowFirst[py] .. rowFirst[py + 1]).
  let firstA = new Int32Array(Y + 1);
  let firstB = new Int32Array(Y + 1);

  const fillSlice = (slice: Uint8Array, changes: Int32Array, rowFirst: Int32Array, pz: number): void => {
    slice.fill(0);
    rowFirst.fill(0);
    const z = z0 - 1 + pz;
    if (z < z0 || z > z1) return;
    const extra = added?.get(z);
    if (extra) {
      for (let py = 1; py < Y - 1; py++) {
        let src = (z * ny + y0 - 1 + py) * nx + x0;
        let dst = py * X + 1;
        for (let px = 1; px < X - 1; px++) slice[dst++] = include[data[src++]];
      }
      for (const i of extra) slice[(Math.floor(i / nx) - y0 + 1) * X + (i % nx) - x0 + 1] = 1;
    }
    let n = 0;
    for (let py = 1; py < Y - 1; py++) {
      rowFirst[py] = n;
      let src = (z * ny + y0 - 1 + py) * nx + x0;
      let dst = py * X + 1;
      let previous = 0;
      for (let px = 1; px < X - 1; px++) {
        const inside = extra ? slice[dst++] : include[data[src++]];
        if (!extra) slice[dst++] = inside;
        if (inside !== previous) {
          changes[n++] = px;
          previous = inside;
        }
      }
      if (previous !== 0) changes[n++] = X - 1;
    }
    rowFirst[Y - 1] = n;
    rowFirst[Y] = n;
  };

  /** Cells cx of row cy of the current slab, from first to last inclusive, in order. */
  const visitCells = (cy: number, first: number, last: number): void => {
    const rowA = cy * X;
    const rowA1 = rowA + X;
    const rowC = cy * CX;
    for (let cx = first; cx <= last; cx++) {
      const i = rowA + cx;
      const i1 = rowA1 + cx;
      const config =
        sliceA[i] |
        (sliceA[i + 1] << 1) |
        (sliceA[i1] << 2) |
        (sliceA[i1 + 1] << 3) |
        (sliceB[i] << 4) |
        (sliceB[i + 1] << 5) |
        (sliceB[i1] << 6) |
        (sliceB[i1 + 1] << 7);
      if (config !== 0 && config !== 255) visitor.cell(rowC + cx, cx, cy, config);
    }
  };

  fillSlice(sliceB, changesB, firstB, 0);
  for (let cz = 0; cz < Z - 1; cz++) {
    if (signal && (cz & 15) === 0) signal.throwIfAborted();
    [sliceA, sliceB] = [sliceB, sliceA];
    [changesA, changesB] = [changesB, changesA];
    [firstA, firstB] = [firstB, firstA];
    fillSlice(sliceB, changesB, firstB, cz + 1);
    visitor.slab(cz);

    for (let cy = 0; cy < Y - 1; cy++) {
      // The four rows at the cell row's corners: (y, y+1) in this slice and the next.
      let a0 = firstA[cy];
      const a0End = firstA[cy + 1];
      let a1 = firstA[cy + 1];
      const a1End = firstA[cy + 2];
      let b0 = firstB[cy];
      const b0End = firstB[cy + 1];
      let b1 = firstB[cy + 1];
      const b1End = firstB[cy + 2];
      if (a0 === a0End && a1 === a1End && b0 === b0End && b1 === b1End) continue; // all outside
      // Values of the four rows at column `from`; every row is outside at column 0.
      let v0 = 0;
      let v1 = 0;
      let v2 = 0;
      let v3 = 0;
      let from = 0;
      for (;;) {
        // The next column where any of the four rows changes (X: none left).
        let at = X;
        if (a0 < a0End && changesA[a0] < at) at = changesA[a0];
        if (a1 < a1End && changesA[a1] < at) at = changesA[a1];
        if (b0 < b0End && changesB[b0] < at) at = changesB[b0];
        if (b1 < b1End && changesB[b1] < at) at = changesB[b1];
        // Cells from..at-2 have the same corners on both x sides: something only if the rows differ.
        if (at - 2 >= from && !(v0 === v1 && v1 === v2 && v2 === v3)) visitCells(cy, from, at - 2);
        if (at === X) break;
        // Cell at-1 straddles the change.
        visitCells(cy, at - 1, at - 1);
        if (a0 < a0End && changesA[a0] === at) {
          v0 ^= 1;
          a0++;
        }
        if (a1 < a1End && changesA[a1] === at) {
          v1 ^= 1;
          a1++;
        }
        if (b0 < b0End && changesB[b0] === at) {
          v2 ^= 1;
          b0++;
        }
        if (b1 < b1End && changesB[b1] === at) {
          v3 ^= 1;
          b1++;
        }
        from = at;
      }
    }
  }
}

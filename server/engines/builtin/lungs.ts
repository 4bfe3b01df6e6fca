import type { Vec3, VoxelArray } from '../../volume/volume.ts';
import { GrowableUint32 } from '../../mesh/growable.ts';
import { componentsOfRuns, paintComponents } from './components.ts';

/**
 * Lungs and airways: large air-filled regions enclosed by the body. Three kinds of enclosed air are
 * not lung, and each is told apart by what a radiologist looks at:
 * - bowel gas is pure air (about -1000 HU) throughout, lung parenchyma about -850 HU with vessels
 *   (in TotalSegmentator's example CT, lung components have 0% of voxels below -950 HU, colon gas 60-70%);
 * - paranasal sinuses, mastoid cells and the airway of a head or neck scan are walled by bone: most
 *   of their edges in an axial slice touch bone, whereas a lung meets the chest wall's muscle,
 *   the mediastinum and the diaphragm (GE head: sinus edges 35% on bone; example CT lung bases 3%);
 * - small pockets (under `minLungMl`) are noise, gas or a trapped air bubble.
 */

export const LUNG_RULES = {
  airBelowHu: -400,
  minLungMl: 20,
  pureAirBelowHu: -950,
  /** More pure-air voxels than this fraction: gas, not lung. */
  maxPureAirFraction: 0.5,
  /** Components smaller than this fraction of the largest are not a second lung. */
  secondLungFraction: 0.1,
  /** A run end within `wallReach` voxels of a voxel above this is on bone. */
  boneWallHu: 300,
  wallReach: 2,
  /** More of a region's edges on bone than this: a sinus or cell walled by bone, not lung. */
  maxBoneWalledFraction: 0.15,
} as const;

export interface LungResult {
  voxels: number;
  components: number;
  gasPockets: number;
  boneWalled: number;
  /** mL of the bone-walled air left out (sinuses, mastoid cells). */
  boneWalledMl: number;
}

/** Paints `lungValue` over body voxels (`bodyValue`) that belong to the lungs. */
export function findLungs(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  labels: Uint8Array,
  bodyValue: number,
  lungValue: number,
  span: Uint32Array,
  signal?: AbortSignal,
): LungResult {
  const [nx, ny, nz] = dims;
  const rows = ny * nz;
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  const { airBelowHu, pureAirBelowHu, boneWallHu, wallReach } = LUNG_RULES;
  const builder = new GrowableUint32(1 << 14);
  const perRun = new GrowableUint32(1 << 14); // pure-air voxels, run ends on bone, run ends
  const rowFirst = new Uint32Array(rows + 1);
  const onBone = (base: number, from: number, step: number): number => {
    for (let k = 0, x = from; k < wallReach && x >= 0 && x < nx; k++, x += step) {
      if (data[base + x] > boneWallHu) return 1;
    }
    return 0;
  };
  for (let r = 0; r < rows; r++) {
    if (signal && (r & 4095) === 0) signal.throwIfAborted();
    rowFirst[r] = builder.length / 3;
    const base = r * nx;
    let start = -1;
    let pure = 0;
    const end = span[2 * r + 1];
    for (let x = span[2 * r]; x <= end; x++) {
      const i = base + x;
      if (x < end && data[i] < airBelowHu && labels[i] === bodyValue) {
        if (start < 0) {
          start = x;
          pure = 0;
        }
        if (data[i] < pureAirBelowHu) pure++;
      } else if (start >= 0) {
        builder.push3(start, x, r);
        const walls = (start > 0 ? 1 : 0) + (x < nx ? 1 : 0);
        const bone = (start > 0 ? onBone(base, start - 1, -1) : 0) + (x < nx ? onBone(base, x, 1) : 0);
        perRun.push3(pure, bone, walls);
        start = -1;
      }
    }
  }
  rowFirst[rows] = builder.length / 3;
  const stats = perRun.finish();
  const air = componentsOfRuns({ runs: builder.finish(), rowFirst }, dims, signal);
  const pureAir = new Float64Array(air.count);
  const boneEnds = new Float64Array(air.count);
  const ends = new Float64Array(air.count);
  for (let i = 0; i < air.runComponent.length; i++) {
    const c = air.runComponent[i];
    pureAir[c] += stats[i * 3];
    boneEnds[c] += stats[i * 3 + 1];
    ends[c] += stats[i * 3 + 2];
  }
  const big = (c: number): boolean => air.sizes[c] * voxelMl >= LUNG_RULES.minLungMl;
  const gas = (c: number): boolean => pureAir[c] / air.sizes[c] >= LUNG_RULES.maxPureAirFraction;
  const walled = (c: number): boolean => ends[c] > 0 && boneEnds[c] / ends[c] > LUNG_RULES.maxBoneWalledFraction;
  let largest = 0;
  for (let c = 0; c < air.count; c++) if (big(c) && !gas(c) && !walled(c)) largest = Math.max(largest, air.sizes[c]);
  const keep = new Uint8Array(air.count);
  const result: LungResult = { voxels: 0, components: 0, gasPockets: 0, boneWalled: 0, boneWalledMl: 0 };
  for (let c = 0; c < air.count; c++) {
    if (big(c) && walled(c)) {
      result.boneWalled++;
      result.boneWalledMl += air.sizes[c] * voxelMl;
    } else if (big(c) && !gas(c) && air.sizes[c] >= largest * LUNG_RULES.secondLungFraction) {
      keep[c] = 1;
      result.voxels += air.sizes[c];
      result.components++;
    } else if (air.sizes[c] * voxelMl >= 1) result.gasPockets++;
  }
  paintComponents(air, keep, labels, lungValue);
  return result;
}

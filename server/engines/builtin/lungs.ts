import type { Vec3, VoxelArray } from '../../volume/volume.ts';
import { GrowableUint32 } from '../../mesh/growable.ts';
import { componentsOfRuns, paintComponents, type Components } from './components.ts';
import { axialPlanes } from './planes.ts';

/**
 * Lungs and airways: large air-filled regions enclosed by the body. Three kinds of enclosed air are
 * not lung, and each is told apart by what a radiologist looks at:
 * - bowel gas is pure air (about -1000 HU) throughout, lung parenchyma about -850 HU with vessels
 *   (in TotalSegmentator's example CT, lung components have 0% of voxels below -950 HU, colon gas 60-70%);
 * - paranasal sinuses, the nasal cavity and mastoid cells lie in a head, whose cross-section is ringed
 *   by the skull: in the axial plane where such a region is widest, dense bone (above `boneHu`) is
 *   8-11% of the body's cross-section (GE head CT, Philips head phantom), whereas a chest or upper
 *   abdomen is mostly soft tissue and air (under 1% at the lung bases of TotalSegmentator's example
 *   CT, a few percent where the ribs are); an adult trunk's cross-section (over 350 cm², a head's is
 *   200-300) passes whatever its bone, as the shoulder girdle can weigh in at the lung apices;
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
  boneHu: 300,
  /** More dense bone than this share of the body's cross-section where the region is widest: not a chest... */
  maxBoneShareOfSection: 0.05,
  /** ...unless that cross-section is an adult trunk's (a head's is 200-300 cm²), where shoulder girdle and ribs weigh in. */
  minTrunkSectionCm2: 350,
} as const;

export interface LungResult {
  voxels: number;
  components: number;
  gasPockets: number;
  /** Air regions left out because they lie in a head or limb (sinuses, nasal cavity, mastoid cells). */
  notInChest: number;
  notInChestMl: number;
}

/** Paints `lungValue` over body voxels (`bodyValue`) that belong to the lungs. */
export function findLungs(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  labels: Uint8Array,
  bodyValue: number,
  lungValue: number,
  axis: 0 | 1 | 2,
  span: Uint32Array,
  signal?: AbortSignal,
): LungResult {
  const [nx, ny, nz] = dims;
  const rows = ny * nz;
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  const { airBelowHu, pureAirBelowHu } = LUNG_RULES;
  const builder = new GrowableUint32(1 << 14);
  const perRun = new GrowableUint32(1 << 14); // pure-air voxels per run
  const rowFirst = new Uint32Array(rows + 1);
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
        perRun.push(pure);
        start = -1;
      }
    }
  }
  rowFirst[rows] = builder.length / 3;
  const pureCounts = perRun.finish();
  const air = componentsOfRuns({ runs: builder.finish(), rowFirst }, dims, signal);
  const pureAir = new Float64Array(air.count);
  for (let i = 0; i < air.runComponent.length; i++) pureAir[air.runComponent[i]] += pureCounts[i];
  const big = (c: number): boolean => air.sizes[c] * voxelMl >= LUNG_RULES.minLungMl;
  const gas = (c: number): boolean => pureAir[c] / air.sizes[c] >= LUNG_RULES.maxPureAirFraction;
  const inChest = chestTest(data, dims, spacing, axis, labels, air, (c) => big(c) && !gas(c));
  let largest = 0;
  for (let c = 0; c < air.count; c++) if (big(c) && !gas(c) && inChest[c]) largest = Math.max(largest, air.sizes[c]);
  const keep = new Uint8Array(air.count);
  const result: LungResult = { voxels: 0, components: 0, gasPockets: 0, notInChest: 0, notInChestMl: 0 };
  for (let c = 0; c < air.count; c++) {
    if (big(c) && !gas(c) && !inChest[c]) {
      result.notInChest++;
      result.notInChestMl += air.sizes[c] * voxelMl;
    } else if (big(c) && !gas(c) && air.sizes[c] >= largest * LUNG_RULES.secondLungFraction) {
      keep[c] = 1;
      result.voxels += air.sizes[c];
      result.components++;
    } else if (air.sizes[c] * voxelMl >= 1) result.gasPockets++;
  }
  paintComponents(air, keep, labels, lungValue);
  return result;
}

/**
 * For each component where `check` holds: whether the axial plane where it is widest looks like a
 * chest, i.e. dense bone is at most `maxBoneShareOfSection` of the body's cross-section there.
 */
function chestTest(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  axis: 0 | 1 | 2,
  labels: Uint8Array,
  air: Components,
  check: (c: number) => boolean,
): Uint8Array {
  const ny = dims[1];
  const p = axialPlanes(dims, spacing, axis);
  const { du, dv } = p;
  const planes = p.count;
  const result = new Uint8Array(air.count);
  const area = new Float64Array(planes);
  for (let c = 0; c < air.count; c++) {
    if (!check(c)) continue;
    area.fill(0);
    // Voxels of the component per axial plane, from its runs (rows along x at z * ny + y).
    for (let k = 0; k < air.runComponent.length; k++) {
      if (air.runComponent[k] !== c) continue;
      const r = air.runs[k * 3 + 2];
      const len = air.runs[k * 3 + 1] - air.runs[k * 3];
      if (axis === 2) area[Math.floor(r / ny)] += len;
      else if (axis === 1) area[r % ny] += len;
      else for (let x = air.runs[k * 3]; x < air.runs[k * 3 + 1]; x++) area[x]++;
    }
    let w = 0;
    for (let i = 1; i < planes; i++) if (area[i] > area[w]) w = i;
    let section = 0;
    let bone = 0;
    for (let b = 0; b < p.nv; b++)
      for (let a = 0; a < p.nu; a++) {
        const i = w * p.sw + b * p.sv + a * p.su;
        if (labels[i] === 0) continue;
        section++;
        if (data[i] > LUNG_RULES.boneHu) bone++;
      }
    const cm2 = (section * du * dv) / 100;
    result[c] =
      section > 0 && (bone / section <= LUNG_RULES.maxBoneShareOfSection || cm2 >= LUNG_RULES.minTrunkSectionCm2)
        ? 1
        : 0;
  }
  return result;
}

import type { Vec3, VoxelArray } from '../../volume/volume.ts';
import { componentsOfRuns, labelComponents, maskRuns, paintComponents } from './components.ts';
import { axialPlanes, type Planes } from './planes.ts';

/**
 * Solid bone, cortex and marrow, as TotalSegmentator labels it, from one CT in Hounsfield units.
 *
 * 1. Dense voxels (cortex, dense trabeculae) and textured voxels: between `textureFromHu` and
 *    `denseAboveHu` a voxel counts only where its 3x3 in-plane neighbourhood varies more than
 *    `textureSigmas` times the image's noise. Trabecular bone is a lattice (local spread 100 HU at
 *    the median); contrast-filled vessels, enhancing kidneys, liver and spleen are smooth (9-14 HU,
 *    the noise), so the aorta at 150-250 HU in an arterial phase does not become bone.
 * 2. One 3x3 in-plane closing joins the cortex around partial-volume gaps.
 * 3. Marrow: what the closed bone encloses in an axial slice is filled when it looks like marrow:
 *    fatty (-200..-20 HU) or textured above `softTissueBelowHu`; never air (sinuses, a phantom's
 *    cavity), never water-like or smooth contents (brain, spinal canal, intervertebral disc, the lumen
 *    of a calcified artery), and never a region larger than `maxMarrowMm2` (a skull's contents, the
 *    pelvic cavity, a chest ringed by calcified cartilage).
 * 4. Bone specks under `minIslandMl` are dropped (calcifications, noise).
 * Every figure was measured against TotalSegmentator's labels of the shared test CTs (docs/quality.md).
 */

export const BONE_RULES = {
  denseAboveHu: 450,
  textureFromHu: 120,
  textureSigmas: 2,
  /** A hole's voxels are textured when their local spread exceeds this many noise sigmas (noise alone: 2%)... */
  marrowTextureSigmas: 1.5,
  /** ...and a hole is textured marrow when more than this share of its voxels are. */
  marrowTexturedFraction: 0.25,
  airBelowHu: -200,
  fatBelowHu: -20,
  softTissueBelowHu: 60,
  maxMarrowMm2: 2000,
  minIslandMl: 0.5,
} as const;

export interface BoneResult {
  voxels: number;
  /** The image's noise: median 3x3 in-plane spread of soft tissue (HU). */
  noiseHu: number;
  marrowVoxels: number;
  holesRejected: number;
  specksDropped: number;
}

/** Spread (standard deviation) of the 3x3 in-plane neighbourhood of the voxel at `i`. */
function localSpread(data: VoxelArray, i: number, su: number, sv: number): number {
  let s = 0;
  let s2 = 0;
  for (let db = -1; db <= 1; db++) {
    const row = i + db * sv;
    for (let da = -1; da <= 1; da++) {
      const v = data[row + da * su];
      s += v;
      s2 += v * v;
    }
  }
  const mean = s / 9;
  return Math.sqrt(Math.max(0, s2 / 9 - mean * mean));
}

/** The median local spread of soft tissue (-20..100 HU) in the body: the image's noise. */
function noiseLevel(data: VoxelArray, labels: Uint8Array, body: number, p: Planes): number {
  const samples: number[] = [];
  const planeStep = Math.max(1, Math.floor(p.count / 40));
  const stride = Math.max(3, Math.round(Math.sqrt((p.nu * p.nv) / 4000)));
  for (let w = 0; w < p.count && samples.length < 100_000; w += planeStep) {
    for (let b = 1; b < p.nv - 1; b += stride) {
      const row = w * p.sw + b * p.sv;
      for (let a = 1; a < p.nu - 1; a += stride) {
        const i = row + a * p.su;
        const v = data[i];
        if (labels[i] === body && v > -20 && v < 100) samples.push(localSpread(data, i, p.su, p.sv));
      }
    }
  }
  if (samples.length === 0) return 10;
  samples.sort((a, b) => a - b);
  return Math.max(1, samples[samples.length >> 1]);
}

/**
 * Max (dilate) or min (erode) over 3 voxels along one in-plane axis, from `src` into `dst`, on the
 * lines (w, b) marked in `lines` only: elsewhere both stay 0 (bone is a few percent of a CT).
 * Outside the plane counts as set for erosion and unset for dilation, so borders neither grow nor shrink.
 */
function pass3(src: Uint8Array, dst: Uint8Array, p: Planes, alongU: boolean, dilate: boolean, lines: Uint8Array): void {
  const { nu, nv, su, sv } = p;
  const edge = dilate ? 0 : 1;
  for (let w = 0; w < p.count; w++) {
    for (let b = 0; b < nv; b++) {
      if (!lines[w * nv + b]) continue;
      const row = w * p.sw + b * sv;
      const end = row + nu * su;
      if (alongU) {
        // First and last voxel of the line against the edge value, the rest against both neighbours.
        dst[row] = dilate ? src[row] | (nu > 1 ? src[row + su] : 0) : src[row] & (nu > 1 ? src[row + su] : 1);
        if (dilate) for (let i = row + su; i < end - su; i += su) dst[i] = src[i - su] | src[i] | src[i + su];
        else for (let i = row + su; i < end - su; i += su) dst[i] = src[i - su] & src[i] & src[i + su];
        if (nu > 1) {
          const i = end - su;
          dst[i] = dilate ? src[i - su] | src[i] : src[i - su] & src[i] & edge;
        }
      } else {
        const up = b > 0 ? -sv : 0;
        const down = b < nv - 1 ? sv : 0;
        // At the plane's first or last line the missing neighbour is the edge value: itself for dilation, set for erosion.
        if (dilate) for (let i = row; i < end; i += su) dst[i] = src[i + up] | src[i] | src[i + down];
        else if (up !== 0 && down !== 0)
          for (let i = row; i < end; i += su) dst[i] = src[i + up] & src[i] & src[i + down];
        else for (let i = row; i < end; i += su) dst[i] = (up ? src[i + up] : 1) & src[i] & (down ? src[i + down] : 1);
      }
    }
  }
}

/** Paints `boneValue` over `bodyValue` voxels of `labels`; lungs and background are never touched. */
export function findBone(
  data: VoxelArray,
  dims: Vec3,
  spacing: Vec3,
  axis: 0 | 1 | 2,
  labels: Uint8Array,
  bodyValue: number,
  boneValue: number,
  span: Uint32Array,
  signal?: AbortSignal,
): BoneResult {
  const p = axialPlanes(dims, spacing, axis);
  const n = data.length;
  const R = BONE_RULES;
  const noiseHu = noiseLevel(data, labels, bodyValue, p);
  const textured = R.textureSigmas * noiseHu;

  // 1. Dense and textured voxels of the body; `lines` marks the in-plane lines (w, b) near any.
  const mask = new Uint8Array(n);
  const lines = new Uint8Array(p.count * p.nv);
  const ny = dims[1];
  for (let w = 0; w < p.count; w++) {
    if (signal && (w & 15) === 0) signal.throwIfAborted();
    for (let b = 0; b < p.nv; b++) {
      const row = w * p.sw + b * p.sv;
      const inner = b > 0 && b < p.nv - 1;
      // Planes that contain x have rows along x: the body's span bounds them.
      const r = axis === 2 ? w * ny + b : b * ny + w;
      const from = axis === 0 ? 0 : span[2 * r];
      const to = axis === 0 ? p.nu : span[2 * r + 1];
      for (let a = from; a < to; a++) {
        const i = row + a * p.su;
        const v = data[i];
        if (v <= R.textureFromHu || labels[i] !== bodyValue) continue;
        if (
          v > R.denseAboveHu ||
          (v > R.textureFromHu && inner && a > 0 && a < p.nu - 1 && localSpread(data, i, p.su, p.sv) > textured)
        ) {
          mask[i] = 1;
          lines[w * p.nv + b] = 1;
        }
      }
    }
  }
  // The closing reaches one line further each way.
  for (let w = 0; w < p.count; w++) {
    const l = w * p.nv;
    for (let b = 0; b < p.nv; b++)
      if (lines[l + b] & 1) {
        if (b > 0) lines[l + b - 1] |= 2;
        if (b < p.nv - 1) lines[l + b + 1] |= 2;
      }
  }

  // 2. Closing (3x3 in-plane), kept within the body.
  const scratch = new Uint8Array(n);
  pass3(mask, scratch, p, true, true, lines);
  pass3(scratch, mask, p, false, true, lines);
  pass3(mask, scratch, p, true, false, lines);
  pass3(scratch, mask, p, false, false, lines);
  for (let w = 0; w < p.count; w++)
    for (let b = 0; b < p.nv; b++) {
      if (!lines[w * p.nv + b]) continue;
      const row = w * p.sw + b * p.sv;
      for (let a = 0; a < p.nu; a++) {
        const i = row + a * p.su;
        if (mask[i] && labels[i] !== bodyValue) mask[i] = 0;
      }
    }
  signal?.throwIfAborted();

  // 3. Marrow: enclosed regions of each axial plane that look like marrow.
  const maxHole = R.maxMarrowMm2 / (p.du * p.dv);
  const marrowSpread = R.marrowTextureSigmas * noiseHu;
  let marrowVoxels = 0;
  let holesRejected = 0;
  for (let w = 0; w < p.count; w++) {
    if (signal && (w & 15) === 0) signal.throwIfAborted();
    const base = w * p.sw;
    // The plane's bone bounding box with a margin of one background pixel: background touching the
    // margin is open to the outside.
    let a0 = p.nu;
    let a1 = -1;
    let b0 = p.nv;
    let b1 = -1;
    for (let b = 0; b < p.nv; b++) {
      if (!lines[w * p.nv + b]) continue;
      const row = base + b * p.sv;
      for (let a = 0; a < p.nu; a++) {
        if (!mask[row + a * p.su]) continue;
        if (a < a0) a0 = a;
        if (a > a1) a1 = a;
        if (b < b0) b0 = b;
        if (b > b1) b1 = b;
      }
    }
    if (a1 < 0) continue;
    const bu = a1 - a0 + 3;
    const bv = b1 - b0 + 3;
    const plane = new Uint8Array(bu * bv).fill(1);
    for (let b = b0; b <= b1; b++)
      for (let a = a0; a <= a1; a++) if (mask[base + a * p.su + b * p.sv]) plane[(b - b0 + 1) * bu + (a - a0 + 1)] = 0;
    const holes = labelComponents(plane, [bu, bv, 1]);
    if (holes.count < 2) continue;
    const open = new Uint8Array(holes.count);
    for (let r = 0; r < holes.runComponent.length; r++) {
      const c = holes.runComponent[r];
      const row = holes.runs[r * 3 + 2];
      if (holes.runs[r * 3] === 0 || holes.runs[r * 3 + 1] === bu || row === 0 || row === bv - 1) open[c] = 1;
      if (holes.sizes[c] > maxHole) open[c] = 1;
    }
    // Voxel index of box pixel (x, y).
    const at = (x: number, y: number): number => base + (x - 1 + a0) * p.su + (y - 1 + b0) * p.sv;
    const sum = new Float64Array(holes.count);
    const rough = new Float64Array(holes.count);
    const foreign = new Uint8Array(holes.count);
    for (let r = 0; r < holes.runComponent.length; r++) {
      const c = holes.runComponent[r];
      if (open[c]) continue;
      const row = holes.runs[r * 3 + 2];
      for (let x = holes.runs[r * 3]; x < holes.runs[r * 3 + 1]; x++) {
        const i = at(x, row);
        if (labels[i] !== bodyValue) foreign[c] = 1;
        sum[c] += data[i];
        if (localSpread(data, i, p.su, p.sv) > marrowSpread) rough[c]++;
      }
    }
    const fill = new Uint8Array(holes.count);
    for (let c = 0; c < holes.count; c++) {
      if (open[c]) continue;
      const mean = sum[c] / holes.sizes[c];
      const marrow =
        !foreign[c] &&
        mean >= R.airBelowHu &&
        (mean < R.fatBelowHu || (mean >= R.softTissueBelowHu && rough[c] / holes.sizes[c] > R.marrowTexturedFraction));
      if (marrow) {
        fill[c] = 1;
        marrowVoxels += holes.sizes[c];
      } else holesRejected++;
    }
    for (let r = 0; r < holes.runComponent.length; r++) {
      if (!fill[holes.runComponent[r]]) continue;
      const row = holes.runs[r * 3 + 2];
      for (let x = holes.runs[r * 3]; x < holes.runs[r * 3 + 1]; x++) mask[at(x, row)] = 1;
    }
  }

  // 4. Without specks.
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  let rowsWithBone: Uint8Array | undefined;
  if (axis !== 0) {
    rowsWithBone = new Uint8Array(dims[1] * dims[2]);
    for (let w = 0; w < p.count; w++)
      for (let b = 0; b < p.nv; b++) if (lines[w * p.nv + b]) rowsWithBone[axis === 2 ? w * ny + b : b * ny + w] = 1;
  }
  const parts = componentsOfRuns(maskRuns(mask, dims, signal, rowsWithBone), dims, signal);
  const keep = new Uint8Array(parts.count);
  let voxels = 0;
  let specksDropped = 0;
  for (let c = 0; c < parts.count; c++) {
    if (parts.sizes[c] * voxelMl >= R.minIslandMl) {
      keep[c] = 1;
      voxels += parts.sizes[c];
    } else specksDropped++;
  }
  paintComponents(parts, keep, labels, boneValue);
  return { voxels, noiseHu, marrowVoxels, holesRejected, specksDropped };
}

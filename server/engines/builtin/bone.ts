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
 * Max (dilate) or min (erode) over 3 pixels along one axis of a plane (`nu` x `nv`, rows along u),
 * from `src` into `dst`, on the rows marked in `lines` only: elsewhere both stay 0 (bone is a few
 * percent of a CT). Outside the plane counts as set for erosion and unset for dilation, so borders
 * neither grow nor shrink.
 */
function pass3(
  src: Uint8Array,
  dst: Uint8Array,
  nu: number,
  nv: number,
  alongU: boolean,
  dilate: boolean,
  lines: Uint8Array,
): void {
  const edge = dilate ? 0 : 1;
  for (let b = 0; b < nv; b++) {
    if (!lines[b]) continue;
    const row = b * nu;
    const end = row + nu;
    if (alongU) {
      // First and last pixel of the row against the edge value, the rest against both neighbours.
      dst[row] = dilate ? src[row] | (nu > 1 ? src[row + 1] : 0) : src[row] & (nu > 1 ? src[row + 1] : 1);
      if (dilate) for (let i = row + 1; i < end - 1; i++) dst[i] = src[i - 1] | src[i] | src[i + 1];
      else for (let i = row + 1; i < end - 1; i++) dst[i] = src[i - 1] & src[i] & src[i + 1];
      if (nu > 1) {
        const i = end - 1;
        dst[i] = dilate ? src[i - 1] | src[i] : src[i - 1] & src[i] & edge;
      }
    } else {
      const up = b > 0 ? -nu : 0;
      const down = b < nv - 1 ? nu : 0;
      // At the plane's first or last row the missing neighbour is the edge value: itself for dilation, set for erosion.
      if (dilate) for (let i = row; i < end; i++) dst[i] = src[i + up] | src[i] | src[i + down];
      else if (up !== 0 && down !== 0) for (let i = row; i < end; i++) dst[i] = src[i + up] & src[i] & src[i + down];
      else for (let i = row; i < end; i++) dst[i] = (up ? src[i + up] : 1) & src[i] & (down ? src[i + down] : 1);
    }
  }
}

/**
 * Paints `boneValue` over `bodyValue` voxels of `labels`, which holds none yet (bone painted per plane is
 * read back to drop specks); lungs and background are never touched.
 */
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
  const R = BONE_RULES;
  const noiseHu = noiseLevel(data, labels, bodyValue, p);
  const textured = R.textureSigmas * noiseHu;
  const maxHole = R.maxMarrowMm2 / (p.du * p.dv);
  const marrowSpread = R.marrowTextureSigmas * noiseHu;
  const ny = dims[1];
  // Steps 1-3 are in-plane, so they run one axial plane at a time in two plane-sized buffers (pixel
  // (a, b) at b * nu + a), and the plane's bone goes straight into the label map: no volume-sized
  // buffer of its own, which for a 512x512x300 CT was 157 MB at the job's peak.
  const plane = new Uint8Array(p.nu * p.nv);
  const scratch = new Uint8Array(p.nu * p.nv);
  // Per line (w, b): 1 where step 1 found bone, 2 where the closing can reach it.
  const lines = new Uint8Array(p.count * p.nv);
  let marrowVoxels = 0;
  let holesRejected = 0;
  for (let w = 0; w < p.count; w++) {
    if (signal && (w & 15) === 0) signal.throwIfAborted();
    const base = w * p.sw;
    const planeLines = lines.subarray(w * p.nv, (w + 1) * p.nv);
    const voxel = (a: number, b: number): number => base + a * p.su + b * p.sv;

    // 1. Dense and textured voxels of the body.
    let found = false;
    for (let b = 0; b < p.nv; b++) {
      const inner = b > 0 && b < p.nv - 1;
      // Planes that contain x have rows along x: the body's span bounds them.
      const r = axis === 2 ? w * ny + b : b * ny + w;
      const from = axis === 0 ? 0 : span[2 * r];
      const to = axis === 0 ? p.nu : span[2 * r + 1];
      for (let a = from; a < to; a++) {
        const i = voxel(a, b);
        const v = data[i];
        if (v <= R.textureFromHu || labels[i] !== bodyValue) continue;
        if (
          v > R.denseAboveHu ||
          (v > R.textureFromHu && inner && a > 0 && a < p.nu - 1 && localSpread(data, i, p.su, p.sv) > textured)
        ) {
          plane[b * p.nu + a] = 1;
          planeLines[b] = 1;
          found = true;
        }
      }
    }
    if (!found) continue;
    // The closing reaches one line further each way.
    for (let b = 0; b < p.nv; b++)
      if (planeLines[b] & 1) {
        if (b > 0) planeLines[b - 1] |= 2;
        if (b < p.nv - 1) planeLines[b + 1] |= 2;
      }

    // 2. Closing (3x3 in-plane), kept within the body.
    pass3(plane, scratch, p.nu, p.nv, true, true, planeLines);
    pass3(scratch, plane, p.nu, p.nv, false, true, planeLines);
    pass3(plane, scratch, p.nu, p.nv, true, false, planeLines);
    pass3(scratch, plane, p.nu, p.nv, false, false, planeLines);
    for (let b = 0; b < p.nv; b++) {
      if (!planeLines[b]) continue;
      for (let a = 0; a < p.nu; a++)
        if (plane[b * p.nu + a] && labels[voxel(a, b)] !== bodyValue) plane[b * p.nu + a] = 0;
    }

    // 3. Marrow: enclosed regions of the plane that look like marrow.
    const marrow = fillMarrow(data, labels, bodyValue, p, plane, planeLines, voxel, { maxHole, marrowSpread });
    marrowVoxels += marrow.voxels;
    holesRejected += marrow.rejected;

    // Into the label map; every pixel set is a body voxel, and lies on a marked line.
    for (let b = 0; b < p.nv; b++) {
      if (!planeLines[b]) continue;
      for (let a = 0; a < p.nu; a++) if (plane[b * p.nu + a]) labels[voxel(a, b)] = boneValue;
    }
    plane.fill(0);
    scratch.fill(0);
  }

  // 4. Without specks: those are given back to the body.
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  let rowsWithBone: Uint8Array | undefined;
  if (axis !== 0) {
    rowsWithBone = new Uint8Array(dims[1] * dims[2]);
    for (let w = 0; w < p.count; w++)
      for (let b = 0; b < p.nv; b++) if (lines[w * p.nv + b]) rowsWithBone[axis === 2 ? w * ny + b : b * ny + w] = 1;
  }
  const parts = componentsOfRuns(maskRuns(labels, dims, signal, rowsWithBone, boneValue), dims, signal);
  const specks = new Uint8Array(parts.count);
  let voxels = 0;
  let specksDropped = 0;
  for (let c = 0; c < parts.count; c++) {
    if (parts.sizes[c] * voxelMl >= R.minIslandMl) voxels += parts.sizes[c];
    else {
      specks[c] = 1;
      specksDropped++;
    }
  }
  paintComponents(parts, specks, labels, bodyValue);
  return { voxels, noiseHu, marrowVoxels, holesRejected, specksDropped };
}

/**
 * Fills the regions of one plane's bone (`plane`, rows marked in `lines`) that it encloses and that
 * look like marrow (step 3 of findBone); `voxel(a, b)` is pixel (a, b)'s index in the volume.
 */
function fillMarrow(
  data: VoxelArray,
  labels: Uint8Array,
  bodyValue: number,
  p: Planes,
  plane: Uint8Array,
  lines: Uint8Array,
  voxel: (a: number, b: number) => number,
  limits: { maxHole: number; marrowSpread: number },
): { voxels: number; rejected: number } {
  const R = BONE_RULES;
  // The bone's bounding box with a margin of one background pixel: background touching the margin
  // is open to the outside.
  let a0 = p.nu;
  let a1 = -1;
  let b0 = p.nv;
  let b1 = -1;
  for (let b = 0; b < p.nv; b++) {
    if (!lines[b]) continue;
    for (let a = 0; a < p.nu; a++) {
      if (!plane[b * p.nu + a]) continue;
      if (a < a0) a0 = a;
      if (a > a1) a1 = a;
      if (b < b0) b0 = b;
      if (b > b1) b1 = b;
    }
  }
  if (a1 < 0) return { voxels: 0, rejected: 0 };
  const bu = a1 - a0 + 3;
  const bv = b1 - b0 + 3;
  const box = new Uint8Array(bu * bv).fill(1);
  for (let b = b0; b <= b1; b++)
    for (let a = a0; a <= a1; a++) if (plane[b * p.nu + a]) box[(b - b0 + 1) * bu + (a - a0 + 1)] = 0;
  const holes = labelComponents(box, [bu, bv, 1]);
  if (holes.count < 2) return { voxels: 0, rejected: 0 };
  const open = new Uint8Array(holes.count);
  for (let r = 0; r < holes.runComponent.length; r++) {
    const c = holes.runComponent[r];
    const row = holes.runs[r * 3 + 2];
    if (holes.runs[r * 3] === 0 || holes.runs[r * 3 + 1] === bu || row === 0 || row === bv - 1) open[c] = 1;
    if (holes.sizes[c] > limits.maxHole) open[c] = 1;
  }
  // Box pixel (x, y) is plane pixel (x - 1 + a0, y - 1 + b0).
  const sum = new Float64Array(holes.count);
  const rough = new Float64Array(holes.count);
  const foreign = new Uint8Array(holes.count);
  for (let r = 0; r < holes.runComponent.length; r++) {
    const c = holes.runComponent[r];
    if (open[c]) continue;
    const row = holes.runs[r * 3 + 2];
    for (let x = holes.runs[r * 3]; x < holes.runs[r * 3 + 1]; x++) {
      const i = voxel(x - 1 + a0, row - 1 + b0);
      if (labels[i] !== bodyValue) foreign[c] = 1;
      sum[c] += data[i];
      if (localSpread(data, i, p.su, p.sv) > limits.marrowSpread) rough[c]++;
    }
  }
  const fill = new Uint8Array(holes.count);
  let voxels = 0;
  let rejected = 0;
  for (let c = 0; c < holes.count; c++) {
    if (open[c]) continue;
    const mean = sum[c] / holes.sizes[c];
    const marrow =
      !foreign[c] &&
      mean >= R.airBelowHu &&
      (mean < R.fatBelowHu || (mean >= R.softTissueBelowHu && rough[c] / holes.sizes[c] > R.marrowTexturedFraction));
    if (marrow) {
      fill[c] = 1;
      voxels += holes.sizes[c];
    } else rejected++;
  }
  for (let r = 0; r < holes.runComponent.length; r++) {
    if (!fill[holes.runComponent[r]]) continue;
    const row = holes.runs[r * 3 + 2];
    for (let x = holes.runs[r * 3]; x < holes.runs[r * 3 + 1]; x++) plane[(row - 1 + b0) * p.nu + (x - 1 + a0)] = 1;
  }
  return { voxels, rejected };
}

import { sharedLabels } from '../../volume/sharedVoxels.ts';
import type { LabelMap, SegmentAlgorithm, Volume, VoxelArray } from '../../volume/volume.ts';
import type { ExportSegment } from '../../mesh/exportModels.ts';
import { outlineBody } from './bodyOutline.ts';
import { BONE_RULES, findBone } from './bone.ts';
import { LUNG_RULES, findLungs } from './lungs.ts';
import { valueScale } from './plausibility.ts';

/**
 * The built-in engine's segmentation: thresholds, texture and connected components, no model
 * weights, a few seconds per CT. First the values are checked (plausibility.ts): only a CT in
 * Hounsfield units gets tissue labels. CT: body (bodyOutline.ts), lungs and airways (lungs.ts),
 * bone with its marrow (bone.ts). MR, or a CT whose values are not HU: body only, above an Otsu threshold.
 */

export const BUILTIN_LABELS = { body: 1, lung: 2, bone: 3 } as const;

/** The tissue threshold of the body outline in a CT; the other rules live with their structure. */
export const BUILTIN_CT = { bodyAboveHu: -300 } as const;

/** Recorded in every built-in segment and in the DICOM SEG; raise `version` whenever a rule changes. */
export const BUILTIN_ALGORITHM: SegmentAlgorithm = {
  type: 'AUTOMATIC',
  name: 'anatomy-gateway built-in (thresholds and texture)',
  version: '2',
};

// Names follow TotalSegmentator's `body` task and Slicer's terminology labels; colours are
// Slicer's GenericAnatomyColors for skin (177,122,101), lung (197,165,145) and bone (241,214,145).
const SEGMENTS: Record<keyof typeof BUILTIN_LABELS, ExportSegment> = {
  body: {
    label: BUILTIN_LABELS.body,
    name: 'body',
    color: [177 / 255, 122 / 255, 101 / 255],
    opacity: 0.3,
    algorithm: BUILTIN_ALGORITHM,
  },
  lung: {
    label: BUILTIN_LABELS.lung,
    name: 'lungs',
    color: [197 / 255, 165 / 255, 145 / 255],
    algorithm: BUILTIN_ALGORITHM,
  },
  bone: {
    label: BUILTIN_LABELS.bone,
    name: 'bone',
    color: [241 / 255, 214 / 255, 145 / 255],
    algorithm: BUILTIN_ALGORITHM,
  },
};

export interface BodySegmentation {
  labelMap: LabelMap;
  segments: ExportSegment[];
  /** What was found, for the job log (counts and volumes only). */
  notes: string[];
  kind: 'ct' | 'mr';
}

/** The index axis that runs most nearly head-foot: slices across it are axial. */
export function axialAxis(volume: Pick<Volume, 'direction'>): 0 | 1 | 2 {
  const d = volume.direction;
  const z = [Math.abs(d[6]), Math.abs(d[7]), Math.abs(d[8])];
  return z[0] >= z[1] && z[0] >= z[2] ? 0 : z[1] >= z[2] ? 1 : 2;
}

/** Otsu's threshold over a sampled 256-bin histogram between the minimum and the 99.5th percentile. */
export function otsuThreshold(data: VoxelArray): number {
  const step = Math.max(1, Math.floor(data.length / 500_000));
  const sample: number[] = [];
  for (let i = 0; i < data.length; i += step) sample.push(data[i]);
  sample.sort((a, b) => a - b);
  const lo = sample[0];
  const hi = sample[Math.min(sample.length - 1, Math.floor(sample.length * 0.995))];
  if (!(hi > lo)) return lo;
  const bins = 256;
  const hist = new Float64Array(bins);
  for (const v of sample) hist[Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)))]++;
  const total = sample.length;
  let sumAll = 0;
  for (let b = 0; b < bins; b++) sumAll += b * hist[b];
  let wB = 0;
  let sumB = 0;
  let best = 0;
  let bestVar = -1;
  for (let b = 0; b < bins; b++) {
    wB += hist[b];
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += b * hist[b];
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > bestVar) {
      bestVar = between;
      best = b;
    }
  }
  return lo + ((best + 1) / bins) * (hi - lo);
}

/**
 * Told as soon as a segment's voxels are final while the rest is still being segmented, so that
 * its mesh can start (StartedMeshes in mesh/startedMeshes.ts).
 */
export type SegmentFinal = (labelMap: LabelMap, segment: ExportSegment) => void;

export function segmentBody(volume: Volume, signal?: AbortSignal, onFinal?: SegmentFinal): BodySegmentation {
  const { dims, spacing, data } = volume;
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;
  // In shared memory the mesh threads read it in place (sharedVoxels.ts).
  const labels = sharedLabels(data.length);
  const notes: string[] = [];
  const scale = valueScale(volume);
  const kind = scale.kind === 'hu' ? 'ct' : 'mr';
  const bodyThreshold = kind === 'ct' ? BUILTIN_CT.bodyAboveHu : otsuThreshold(data);
  const axis = axialAxis(volume);
  const segments: ExportSegment[] = [];
  const done = (): BodySegmentation => ({ labelMap: { ...geometry(volume), data: labels }, segments, notes, kind });

  // Everything below works on runs of voxels along x (components.ts) or on axial planes, with the
  // label map as the one volume-sized buffer it keeps.
  const body = outlineBody(data, dims, spacing, axis, bodyThreshold, labels, BUILTIN_LABELS.body, signal);
  if (body.partsMl.length === 0) {
    notes.push('no body found: nothing in the image is above the tissue threshold and thick enough to be a body part');
    return done();
  }
  const parts =
    `${body.partsMl.length} part${body.partsMl.length === 1 ? '' : 's'} (${body.partsMl.map((ml) => `${ml.toFixed(0)} mL`).join(', ')})` +
    (body.thinDropped > 0
      ? `; ${body.thinDropped} thin object${body.thinDropped === 1 ? '' : 's'} outside it left out (table, holders)`
      : '');
  notes.push(`body: ${parts}`);

  if (kind === 'mr') {
    const reason = scale.kind === 'hu' ? '' : scale.reason;
    notes.push(`${reason}: body outline only, above ${bodyThreshold.toFixed(1)} (Otsu); no lungs or bone`);
    segments.push({
      ...SEGMENTS.body,
      note: `Body outline only (${reason}; lungs and bone need a CT in Hounsfield units). Threshold ${bodyThreshold.toFixed(0)} by Otsu's method; ${parts}.`,
    });
    return done();
  }

  // Lungs and bone are painted only over body voxels (findLungs, findBone), so the voxels labelled
  // body, lung or bone are from here on those of the outline: the body's surface is final.
  onFinal?.(
    { ...geometry(volume), data: labels },
    { ...SEGMENTS.body, containsLabels: [BUILTIN_LABELS.lung, BUILTIN_LABELS.bone] },
  );
  const lungs = findLungs(
    data,
    dims,
    spacing,
    labels,
    BUILTIN_LABELS.body,
    BUILTIN_LABELS.lung,
    axis,
    body.span,
    signal,
  );
  const bone = findBone(data, dims, spacing, axis, labels, BUILTIN_LABELS.body, BUILTIN_LABELS.bone, body.span, signal);
  notes.push(
    `CT: lungs ${(lungs.voxels * voxelMl).toFixed(0)} mL in ${lungs.components} part(s) ` +
      `(${lungs.gasPockets} gas pockets of 1 mL or more and ${lungs.notInChest} air spaces of ${lungs.notInChestMl.toFixed(0)} mL outside a chest left out), ` +
      `bone ${(bone.voxels * voxelMl).toFixed(0)} mL with ${(bone.marrowVoxels * voxelMl).toFixed(0)} mL enclosed marrow ` +
      `(noise ${bone.noiseHu.toFixed(0)} HU; ${bone.holesRejected} enclosed regions not marrow; ${bone.specksDropped} specks under ${BONE_RULES.minIslandMl} mL dropped)`,
  );
  const inner = [...(lungs.voxels > 0 ? [BUILTIN_LABELS.lung] : []), ...(bone.voxels > 0 ? [BUILTIN_LABELS.bone] : [])];
  segments.push({
    ...SEGMENTS.body,
    ...(inner.length > 0 ? { containsLabels: inner } : {}),
    note: `Skin surface: everything above ${BUILTIN_CT.bodyAboveHu} HU, ${parts}; cavities included.`,
  });
  if (lungs.voxels > 0)
    segments.push({
      ...SEGMENTS.lung,
      note: `Air-filled lung and airways inside the chest (below ${LUNG_RULES.airBelowHu} HU), both lungs as one structure; bowel gas and air in a head (sinuses) left out. Not split into lobes.`,
    });
  if (bone.voxels > 0)
    segments.push({
      ...SEGMENTS.bone,
      note: `All bone as one structure: cortex above ${BONE_RULES.denseAboveHu} HU and textured marrow; calcified cartilage and vessel-wall calcium next to bone can be included. Check before printing.`,
    });
  return done();
}

function geometry(volume: Volume): Omit<LabelMap, 'data'> {
  return {
    dims: [...volume.dims],
    spacing: [...volume.spacing],
    origin: [...volume.origin],
    direction: [...volume.direction],
  };
}

import type { Volume } from '../../volume/volume.ts';

/**
 * What the values of a volume can support, decided before anything is segmented. Tissue labels
 * (lungs, bone) rest on Hounsfield units: air at -1000, water at 0, bone above a few hundred. A CT
 * whose file holds raw detector or rescaled-away values (a series converted without its rescale, a
 * research export) has no air near -1000 HU, and thresholds in HU would label nonsense; an MR has no
 * such scale at all. Both get the body outline only, and the result says why.
 */

export type ValueScale = { kind: 'hu' } | { kind: 'not-hu'; reason: string } | { kind: 'mr'; reason: string };

export const HU_CHECK = {
  /** Air (outside the patient, lungs, the field-of-view padding) is about -1000 HU. */
  airBelowHu: -900,
  /** At least this share of the sampled voxels is air in any CT of a body part. */
  minAirShare: 0.02,
} as const;

function range(volume: Volume): { min: number; max: number; air: number } {
  const data = volume.data;
  const step = Math.max(1, Math.floor(data.length / 200_000));
  let min = Infinity;
  let max = -Infinity;
  let air = 0;
  let samples = 0;
  for (let i = 0; i < data.length; i += step) {
    const v = data[i];
    samples++;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v < HU_CHECK.airBelowHu) air++;
  }
  return { min, max, air: samples > 0 ? air / samples : 0 };
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export function valueScale(volume: Volume): ValueScale {
  const modality = volume.modality?.toUpperCase();
  const { min, max, air } = range(volume);
  if (modality && modality !== 'CT') {
    return { kind: 'mr', reason: `modality ${modality}: values are not Hounsfield units` };
  }
  if (min <= HU_CHECK.airBelowHu && air >= HU_CHECK.minAirShare) return { kind: 'hu' };
  const why =
    min > HU_CHECK.airBelowHu
      ? `no air near -1000 (values ${fmt(min)} to ${fmt(max)})`
      : `only ${(air * 100).toFixed(1)}% of voxels are air (values ${fmt(min)} to ${fmt(max)})`;
  if (modality === 'CT') return { kind: 'not-hu', reason: `values are not Hounsfield units: ${why}` };
  // A volume file without modality: a CT in HU shows air; anything else is taken as MR-like.
  return { kind: 'mr', reason: `values are not Hounsfield units (MR or unknown): ${why}` };
}

import { readNifti } from '../volume/nifti.ts';
import type { LabelMap, Volume } from '../volume/volume.ts';

/**
 * Reads a label map an outside engine wrote and checks it lies on the input's voxel grid: the
 * mesher places structures with the label map's geometry, so a label map that silently differs
 * (resampled, flipped) would put organs in the wrong place in the model.
 */
export async function readEngineLabelMap(
  path: string,
  reference: Pick<Volume, 'dims' | 'spacing' | 'origin' | 'direction'>,
  producer: string,
): Promise<LabelMap> {
  const volume = await readNifti(path);
  const [a, b] = [volume.dims.join('x'), reference.dims.join('x')];
  if (a !== b) throw new Error(`${producer} returned a label map of ${a} voxels for an input of ${b} voxels`);
  const tolerance = Math.min(...reference.spacing) * 0.01;
  const far = (x: readonly number[], y: readonly number[], tol: number): boolean =>
    x.some((v, i) => Math.abs(v - (y[i] ?? NaN)) > tol);
  if (
    far(volume.origin, reference.origin, tolerance) ||
    far(volume.spacing, reference.spacing, tolerance) ||
    far(volume.direction, reference.direction, 1e-3)
  ) {
    throw new Error(`${producer} returned a label map whose position or orientation differs from the input volume`);
  }
  const data = volume.data;
  if (data instanceof Uint8Array || data instanceof Uint16Array) return { ...volume, data };
  let max = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < 0 || !Number.isInteger(v))
      throw new Error(`${producer} returned a label map with a value that is not a label (${v})`);
    if (v > max) max = v;
  }
  if (max > 65535)
    throw new Error(`${producer} returned a label map with label ${max}; at most 65535 labels are supported`);
  const out = max <= 255 ? new Uint8Array(data.length) : new Uint16Array(data.length);
  out.set(data);
  return { ...volume, data: out };
}

/** Sorted distinct non-zero labels. */
export function labelsPresent(labelMap: Pick<LabelMap, 'data'>): number[] {
  const seen = new Uint8Array(65536);
  const { data } = labelMap;
  for (let i = 0; i < data.length; i++) seen[data[i]!] = 1;
  const out: number[] = [];
  for (let l = 1; l < seen.length; l++) if (seen[l]) out.push(l);
  return out;
}

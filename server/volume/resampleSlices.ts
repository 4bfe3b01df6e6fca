import type { VoxelArray } from './volume.ts';

/**
 * Output slice k lies at distance k*spacingZ along the normal from the first slice, with the first
 * slice's in-plane origin. It is interpolated linearly between the two nearest input slices (irregular
 * spacing), each sampled bilinearly at the in-plane shift that slice had (gantry tilt), as dcm2niix does.
 * Samples falling outside an input slice take the lowest value of the volume (air for CT).
 */
export function resample(
  src: VoxelArray,
  g: {
    nx: number;
    ny: number;
    nzIn: number;
    nz: number;
    sx: number;
    sy: number;
    spacingZ: number;
    along: number[];
    shifts: { u: number; v: number }[];
  },
): VoxelArray {
  const { nx, ny, nzIn, nz } = g;
  const sliceSize = nx * ny;
  let background = Infinity;
  for (let i = 0; i < src.length; i++) if (src[i] < background) background = src[i];
  const out = new (src.constructor as new (n: number) => VoxelArray)(sliceSize * nz);
  const integer = !(out instanceof Float32Array || out instanceof Float64Array);
  const sampleSlice = (k: number, x: number, y: number): number => {
    // Shift of input slice k, in voxels: the point (x, y) of the output plane is (x - du, y - dv) in slice k.
    const fx = x - g.shifts[k].u / g.sx;
    const fy = y - g.shifts[k].v / g.sy;
    const x0 = Math.floor(fx);
    const y0 = Math.floor(fy);
    if (x0 < 0 || y0 < 0 || x0 >= nx || y0 >= ny) return background;
    const x1 = Math.min(x0 + 1, nx - 1);
    const y1 = Math.min(y0 + 1, ny - 1);
    const ax = fx - x0;
    const ay = fy - y0;
    const b = k * sliceSize;
    const v00 = src[b + y0 * nx + x0];
    const v10 = src[b + y0 * nx + x1];
    const v01 = src[b + y1 * nx + x0];
    const v11 = src[b + y1 * nx + x1];
    return (v00 * (1 - ax) + v10 * ax) * (1 - ay) + (v01 * (1 - ax) + v11 * ax) * ay;
  };
  let lower = 0;
  for (let k = 0; k < nz; k++) {
    const z = k * g.spacingZ;
    while (lower + 1 < nzIn - 1 && g.along[lower + 1] <= z) lower++;
    const upper = Math.min(lower + 1, nzIn - 1);
    const span = g.along[upper] - g.along[lower];
    const t = span > 0 ? Math.min(1, Math.max(0, (z - g.along[lower]) / span)) : 0;
    const base = k * sliceSize;
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        let v = sampleSlice(lower, x, y);
        if (t > 0) v = v * (1 - t) + sampleSlice(upper, x, y) * t;
        out[base + y * nx + x] = integer ? Math.round(v) : v;
      }
    }
  }
  return out;
}

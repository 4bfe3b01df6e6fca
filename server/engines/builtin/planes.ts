import type { Vec3 } from '../../volume/volume.ts';

/**
 * The axial planes of a volume as strides: plane w holds voxel (a, b) at `w * sw + a * su + b * sv`,
 * whichever index axis runs head-foot. The built-in engine's 2D rules (hole filling, thickness,
 * texture) work on axial planes, as a radiologist reads a CT.
 */
export interface Planes {
  axis: 0 | 1 | 2;
  count: number;
  nu: number;
  nv: number;
  su: number;
  sv: number;
  sw: number;
  /** In-plane voxel size along u and v (mm). */
  du: number;
  dv: number;
}

export function axialPlanes(dims: Vec3, spacing: Vec3, axis: 0 | 1 | 2): Planes {
  const strides: Vec3 = [1, dims[0], dims[0] * dims[1]];
  const [u, v] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
  return {
    axis,
    count: dims[axis],
    nu: dims[u],
    nv: dims[v],
    su: strides[u],
    sv: strides[v],
    sw: strides[axis],
    du: spacing[u],
    dv: spacing[v],
  };
}

import { IDENTITY_DIRECTION, type LabelMap, type Mat3, type Vec3 } from '../volume/volume.ts';

/** Label maps of known shapes, for tests and benchmarks of the mesher. */

export interface Ellipsoid {
  label: number;
  /** Centre in voxel indices. */
  center: Vec3;
  /** Semi-axes in millimetres. */
  radii: Vec3;
}

export function ellipsoidLabelMap(options: {
  dims: Vec3;
  spacing?: Vec3;
  origin?: Vec3;
  direction?: Mat3;
  shapes: Ellipsoid[];
}): LabelMap {
  const { dims, shapes } = options;
  const spacing = options.spacing ?? [1, 1, 1];
  const [nx, ny, nz] = dims;
  const data = new Uint8Array(nx * ny * nz);
  for (const s of shapes) {
    for (let z = 0; z < nz; z++) {
      const dz = ((z - s.center[2]) * spacing[2]) / s.radii[2];
      if (dz * dz > 1) continue;
      for (let y = 0; y < ny; y++) {
        const dy = ((y - s.center[1]) * spacing[1]) / s.radii[1];
        if (dy * dy + dz * dz > 1) continue;
        for (let x = 0; x < nx; x++) {
          const dx = ((x - s.center[0]) * spacing[0]) / s.radii[0];
          if (dx * dx + dy * dy + dz * dz <= 1) data[(z * ny + y) * nx + x] = s.label;
        }
      }
    }
  }
  return {
    dims: [...dims],
    spacing: [...spacing],
    origin: options.origin ?? [0, 0, 0],
    direction: options.direction ?? [...IDENTITY_DIRECTION],
    data,
  };
}

export function ellipsoidVolumeMm3(radii: Vec3): number {
  return (4 / 3) * Math.PI * radii[0] * radii[1] * radii[2];
}

import type { Mat3, Vec3 } from './volume.ts';

/** Small 3-vector helpers shared by the readers; kept here so each reader stays about its format. */

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function normalize(a: ArrayLike<number>): Vec3 {
  const n = norm(a);
  return [a[0] / n, a[1] / n, a[2] / n];
}

/** Direction matrix (row-major) whose columns are the three given axis vectors. */
export function fromColumns(c0: ArrayLike<number>, c1: ArrayLike<number>, c2: ArrayLike<number>): Mat3 {
  return [c0[0], c1[0], c2[0], c0[1], c1[1], c2[1], c0[2], c1[2], c2[2]];
}

export function column(m: Mat3, k: number): Vec3 {
  return [m[k], m[3 + k], m[6 + k]];
}

export function determinant(m: Mat3): number {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

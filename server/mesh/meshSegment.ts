import type { LabelArray, Mat3, Vec3 } from '../volume/volume.ts';
import { MeshoptSimplifier } from 'meshoptimizer';
import { bounds, decimateNow, gridToLps, matchVolume, signedVolume, triangleCount, vertexNormals } from './meshOps.ts';
import { smoothSurface } from './smooth.ts';
import { GrowableFloat32, GrowableUint32 } from './growable.ts';
import { extractSurface, type IndexBox, type SurfaceScratch } from './surfaceNets.ts';

/**
 * One structure of a label map -> its finished mesh: surface nets, constrained Taubin smoothing,
 * grid -> LPS, quadric decimation, volume matching, normals. A plain function of its inputs so the
 * same code runs in-process and in the mesher's worker threads (meshPool.ts).
 */

export interface MeshGeometry {
  dims: Vec3;
  spacing: Vec3;
  origin: Vec3;
  direction: Mat3;
}

export interface MeshSettings {
  /** Fraction of triangles removed by decimation (0..0.99). */
  reduction: number;
  /** Taubin iterations; 0 disables smoothing. */
  smoothingIterations: number;
}

export interface MeshJob {
  /** Labels meshed together as one surface. */
  labels: number[];
  /** Index box holding every voxel of `labels`. */
  box: IndexBox;
  /** Their voxel count: the mesh is offset to enclose this volume. */
  voxels: number;
}

/** Seconds spent in each step, measured in the thread that did the work. */
export interface MeshStepSeconds {
  surface: number;
  smooth: number;
  decimate: number;
  /** Volume matching, normals and statistics. */
  finish: number;
}

export interface MeshedSegment {
  /** LPS millimetres. */
  positions: Float32Array;
  normals: Float32Array;
  indices: Uint32Array;
  triangles: number;
  meshVolumeMm3: number;
  bounds: { min: Vec3; max: Vec3 };
  seconds: MeshStepSeconds;
}

/**
 * Surfaces of this thread are built here: a mesh thread meshes job after job (meshPool.ts), and
 * arrays it has filled before cost no page faults the next time.
 */
const scratch: SurfaceScratch = { positions: new GrowableFloat32(), indices: new GrowableUint32() };

export async function meshSegment(
  data: LabelArray,
  geometry: MeshGeometry,
  job: MeshJob,
  settings: MeshSettings,
  signal?: AbortSignal,
): Promise<MeshedSegment> {
  const { dims, spacing, origin, direction } = geometry;
  const include = new Uint8Array(data instanceof Uint8Array ? 256 : 65536);
  for (const l of job.labels) if (l > 0 && l < include.length) include[l] = 1;
  const seconds: MeshStepSeconds = { surface: 0, smooth: 0, decimate: 0, finish: 0 };
  let t = performance.now();
  const lap = (step: keyof MeshStepSeconds): void => {
    const now = performance.now();
    seconds[step] += (now - t) / 1000;
    t = now;
  };
  // From the surface to its decimation nothing awaits, so no other structure meshed in this
  // thread can take the scratch arrays in between.
  await MeshoptSimplifier.ready;
  let mesh = extractSurface(data, dims, spacing, include, job.box, signal, scratch);
  lap('surface');
  if (settings.smoothingIterations > 0)
    smoothSurface(mesh, spacing, { iterations: settings.smoothingIterations }, signal);
  lap('smooth');
  gridToLps(mesh, origin, direction);
  signal?.throwIfAborted();
  mesh = decimateNow(mesh, settings.reduction);
  // A mesh too small to decimate is still the scratch arrays, which the next surface reuses.
  if (mesh.indices.buffer === scratch.indices.data.buffer)
    mesh = { positions: mesh.positions.slice(), indices: mesh.indices.slice() };
  lap('decimate');
  const voxelMm3 = spacing[0] * spacing[1] * spacing[2];
  matchVolume(mesh, job.voxels * voxelMm3, 0.5 * Math.min(...spacing));
  const normals = vertexNormals(mesh);
  const result: MeshedSegment = {
    positions: mesh.positions,
    normals,
    indices: mesh.indices,
    triangles: triangleCount(mesh),
    meshVolumeMm3: signedVolume(mesh),
    bounds: bounds(mesh.positions),
    seconds,
  };
  lap('finish');
  return result;
}

import { join } from 'node:path';
import type { LabelMap, Rgb, Segment, Vec3 } from '../volume/volume.ts';
import { allWritten, writeFileAtomic, writeGltfFiles, type GltfModel } from './gltf.ts';
import { labelStats, unionStats, type LabelStats } from './labelStats.ts';
import { meshJobCells, meshThreadsFor, openMeshBatch } from './meshPool.ts';
import { writePrintFiles } from './printFiles.ts';
import type { MeshedSegment, MeshStepSeconds } from './meshSegment.ts';
import type { StartedMeshes } from './startedMeshes.ts';

/**
 * Label map -> one smoothed, decimated, outward-facing, 2-manifold surface per segment ->
 * `<name>.gltf`, `<name>.glb`, `<name>.3mf`, `<name>_stl.zip` and `<name>_segments.json`. The shared mesher for every engine that gives no glTF.
 */

/** A segment that may also enclose other labels (e.g. a body outline around the lungs and bones). */
export interface ExportSegment extends Segment {
  /**
   * Other labels meshed together with this one: the surface then wraps them too, so a skin
   * drawn see-through has no inner walls around the organs. Voxel counts include them.
   */
  containsLabels?: number[];
}

export interface SegmentStats {
  label: number;
  name: string;
  /** Linear 0..1. */
  color: Rgb;
  /** `#rrggbb`, for people and web pages. */
  colorHex: string;
  opacity: number;
  voxels: number;
  /** Voxel count times voxel volume. */
  volumeMl: number;
  /** Volume enclosed by the exported mesh. */
  meshVolumeMl: number;
  triangles: number;
  /** Axis-aligned bounds of the mesh in LPS millimetres. */
  bounds: { min: Vec3; max: Vec3 };
  totalSegmentatorId?: number;
  containsLabels?: number[];
}

/** Taubin iterations unless told otherwise. */
export const SMOOTHING_ITERATIONS = 20;

export interface ExportModelsOptions {
  labelMap: LabelMap;
  segments: ExportSegment[];
  outDir: string;
  /** Base name of the files, already safe for file names. */
  name: string;
  /** Fraction of triangles removed by decimation (0..0.99), config.meshReduction. */
  reduction: number;
  signal?: AbortSignal;
  /** fraction 0..1 of the export done, and what is being done. */
  onProgress?: (fraction: number, status: string) => void | Promise<void>;
  /** Taubin iterations; 0 disables smoothing. */
  smoothingIterations?: number;
  /** Most worker threads for meshing (meshPool.ts); default one per core, at most 4; 1 meshes in this thread. */
  threads?: number;
  /** Meshes the engine started before its label map was finished (startedMeshes.ts); the others join them. */
  started?: StartedMeshes;
  /**
   * Where the time goes, for the benchmark: `stats` (label counts and boxes), `mesh` (wall time of
   * all structures, all threads, with most of the print files written beside them), then per
   * structure `surface`, `smooth`, `decimate` and `finish` as measured in the thread that did it,
   * then `write` (what is left to write once the last structure is meshed).
   */
  onStep?: (step: ExportStep, ms: number) => void;
}

export type ExportStep = 'stats' | 'mesh' | keyof MeshStepSeconds | 'write';

export interface ExportModelsResult {
  /** Absolute paths of the files written. */
  files: string[];
  segments: SegmentStats[];
}

export class EmptySegmentationError extends Error {
  constructor() {
    super('the segmentation is empty: no structure has any voxel, so there is nothing to make a 3D model of');
    this.name = 'EmptySegmentationError';
  }
}

function hex(c: Rgb): string {
  return `#${c
    .map((v) =>
      Math.round(Math.min(1, Math.max(0, v)) * 255)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export async function exportModels(options: ExportModelsOptions): Promise<ExportModelsResult> {
  const { labelMap, segments, outDir, name, reduction, signal, onProgress } = options;
  if (!name || /[/\\\0]/.test(name) || name === '.' || name === '..') throw new Error(`invalid output name "${name}"`);
  if (!(reduction >= 0 && reduction < 1)) throw new Error(`mesh reduction must be in [0, 1), got ${reduction}`);
  const iterations = options.smoothingIterations ?? SMOOTHING_ITERATIONS;
  const { dims, spacing, origin, direction, data } = labelMap;
  const voxelMl = (spacing[0] * spacing[1] * spacing[2]) / 1000;

  const statsStarted = performance.now();
  const stats = labelStats(labelMap);
  options.onStep?.('stats', performance.now() - statsStarted);
  const todo = segments
    .map((segment) => {
      const labels = [segment.label, ...(segment.containsLabels ?? [])];
      return { segment, labels, box: unionStats(stats, labels) };
    })
    .filter((t): t is typeof t & { box: LabelStats } => t.box !== undefined && stats.has(t.segment.label));
  if (todo.length === 0) throw new EmptySegmentationError();

  const geometry = { dims, spacing, origin, direction };
  const settings = { reduction, smoothingIterations: iterations };
  const jobs = todo.map(({ labels, box }) => ({ labels, box: { min: box.min, max: box.max }, voxels: box.voxels }));
  // Progress follows the work, which grows with each label's box.
  const totalCells = jobs.reduce((s, job) => s + meshJobCells(job), 0);
  let doneCells = 0;
  signal?.throwIfAborted();
  await onProgress?.(0, `meshing ${todo.map((t) => t.segment.name).join(', ')}`);
  const meshStarted = performance.now();
  const startedBatch = options.started?.batchFor(data, settings);
  const started = startedBatch ? options.started : undefined;
  const batch =
    startedBatch ??
    openMeshBatch(data, geometry, settings, {
      threads: Math.min(jobs.length, meshThreadsFor(totalCells, options.threads)),
      signal,
    });
  // The print files take each structure as its mesh comes (printFiles.ts), so most of the 3MF is
  // written while the last structure is still being meshed (docs/performance.md). They stop as soon as
  // anything else fails, and nothing is left writing once this returns or throws.
  const stopPrinting = new AbortController();
  let printing: Promise<string[]> | undefined;
  try {
    let meshes: MeshedSegment[];
    try {
      const taken = jobs.map((job, i) => started?.take(todo[i].segment.label, job.labels, stats));
      const rest = jobs.filter((_, i) => !taken[i]);
      const added = batch.add(rest);
      const meshing = jobs.map((job, i) => taken[i] ?? added[rest.indexOf(job)]);
      printing = writePrintFiles(
        outDir,
        name,
        todo.map(({ segment }, i) => ({
          name: segment.name,
          color: segment.color,
          opacity: segment.opacity ?? 1,
          surface: meshing[i],
        })),
        signal ? AbortSignal.any([signal, stopPrinting.signal]) : stopPrinting.signal,
      );
      // Its failure is taken up below; until then it must not count as unhandled.
      printing.catch(() => undefined);
      meshes = await Promise.all(
        meshing.map(async (meshed, i) => {
          const mesh = await meshed;
          doneCells += meshJobCells(jobs[i]);
          await onProgress?.((0.95 * doneCells) / totalCells, `meshed ${todo[i].segment.name}`);
          return mesh;
        }),
      );
    } catch (err) {
      // Before the batch closes, which can wait for meshes still being made.
      stopPrinting.abort(err);
      throw err;
    } finally {
      // The threads wait for the next job (or rest) while the files are written.
      await batch.close();
    }
    options.onStep?.('mesh', performance.now() - meshStarted);

    const models: GltfModel[] = [];
    const out: SegmentStats[] = [];
    for (let i = 0; i < todo.length; i++) {
      const { segment, box } = todo[i];
      const mesh = meshes[i];
      for (const [step, seconds] of Object.entries(mesh.seconds)) options.onStep?.(step as ExportStep, seconds * 1000);
      const opacity = segment.opacity ?? 1;
      models.push({
        name: segment.name,
        color: segment.color,
        opacity,
        positions: mesh.positions,
        normals: mesh.normals,
        indices: mesh.indices,
      });
      const stat: SegmentStats = {
        label: segment.label,
        name: segment.name,
        color: segment.color.map((c) => round(c, 4)) as Rgb,
        colorHex: hex(segment.color),
        opacity,
        voxels: box.voxels,
        volumeMl: round(box.voxels * voxelMl, 3),
        meshVolumeMl: round(mesh.meshVolumeMm3 / 1000, 3),
        triangles: mesh.triangles,
        bounds: {
          min: mesh.bounds.min.map((v) => round(v, 2)) as Vec3,
          max: mesh.bounds.max.map((v) => round(v, 2)) as Vec3,
        },
      };
      if (segment.totalSegmentatorId !== undefined) stat.totalSegmentatorId = segment.totalSegmentatorId;
      if (segment.containsLabels?.length) stat.containsLabels = [...segment.containsLabels];
      out.push(stat);
    }

    const writeStarted = performance.now();
    signal?.throwIfAborted();
    await onProgress?.(0.98, 'writing glTF, 3MF and STL');
    const gltfPath = join(outDir, `${name}.gltf`);
    const glbPath = join(outDir, `${name}.glb`);
    const jsonPath = join(outDir, `${name}_segments.json`);
    // Each file atomically.
    await allWritten([
      writeGltfFiles(name, models, { gltf: gltfPath, glb: glbPath }),
      writeFileAtomic(jsonPath, [
        Buffer.from(`${JSON.stringify({ name, meshReduction: reduction, segments: out }, null, 2)}\n`, 'utf8'),
      ]),
    ]);
    const printFiles = await printing;
    await onProgress?.(1, 'models written');
    options.onStep?.('write', performance.now() - writeStarted);
    return { files: [gltfPath, glbPath, ...printFiles, jsonPath], segments: out };
  } catch (err) {
    stopPrinting.abort(err);
    await printing?.catch(() => undefined);
    throw err;
  }
}

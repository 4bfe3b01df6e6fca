import type { LabelArray, LabelMap } from '../volume/volume.ts';
import type { ExportSegment } from './exportModels.ts';
import { labelStats, unionStats, type LabelStats } from './labelStats.ts';
import { meshThreadsFor, openMeshBatch, type MeshBatch } from './meshPool.ts';
import type { MeshedSegment, MeshSettings } from './meshSegment.ts';

/**
 * Meshes begun while an engine is still segmenting. When a structure's voxels are final and the
 * engine goes on with the others (the built-in engine's body, whose outline later steps only
 * relabel inside), a mesh thread starts on it at once, reading the label map in place while this
 * thread segments on. exportModels takes such a mesh only when the structure's voxels are still
 * those it was started on (their count and box); otherwise the structure is meshed again. What it
 * saves is in docs/performance.md.
 */
export class StartedMeshes {
  readonly settings: MeshSettings;
  /** Labels whose started mesh exportModels took. */
  readonly used: number[] = [];
  /** Labels whose voxels had changed since their mesh was started: meshed again. */
  readonly changed: number[] = [];
  #batch?: MeshBatch;
  #data?: LabelArray;
  #started = new Map<number, { labels: number[]; stats: LabelStats; mesh: Promise<MeshedSegment> }>();

  constructor(
    settings: MeshSettings,
    private readonly options: { threads?: number; signal?: AbortSignal } = {},
  ) {
    this.settings = { ...settings };
  }

  /**
   * `segment`'s voxels (with its containsLabels) in `labelMap` are final: its mesh may start now.
   * Does nothing where it cannot run beside the caller: a label map not in shared memory (the
   * threads would read a copy made now) or too small to mesh in worker threads.
   */
  start(labelMap: LabelMap, segment: ExportSegment): void {
    const { data } = labelMap;
    if (!(data.buffer instanceof SharedArrayBuffer) || (this.#data && this.#data !== data)) return;
    const threads = meshThreadsFor(data.length, this.options.threads);
    if (threads < 2 || this.#started.has(segment.label)) return;
    const labels = [segment.label, ...(segment.containsLabels ?? [])];
    const stats = unionStats(labelStats(labelMap), labels);
    if (!stats) return;
    const { dims, spacing, origin, direction } = labelMap;
    this.#data = data;
    this.#batch ??= openMeshBatch(data, { dims, spacing, origin, direction }, this.settings, {
      threads,
      signal: this.options.signal,
    });
    const [mesh] = this.#batch.add([{ labels, box: { min: stats.min, max: stats.max }, voxels: stats.voxels }]);
    // Awaited by exportModels, or by nobody when the job fails before it.
    mesh.catch(() => undefined);
    this.#started.set(segment.label, { labels, stats, mesh });
  }

  /** The batch the started meshes run in, for the other structures of the same label map and settings. */
  batchFor(data: LabelArray, settings: MeshSettings): MeshBatch | undefined {
    const same =
      settings.reduction === this.settings.reduction &&
      settings.smoothingIterations === this.settings.smoothingIterations;
    return same && data === this.#data ? this.#batch : undefined;
  }

  /**
   * The started mesh of the structure labelled `label`, now meshed as `labels`, when its voxels are
   * still those it was started on; `stats` are the finished label map's.
   */
  take(label: number, labels: number[], stats: Map<number, LabelStats>): Promise<MeshedSegment> | undefined {
    const started = this.#started.get(label);
    if (!started) return undefined;
    this.#started.delete(label);
    const then = started.stats;
    const now = unionStats(stats, started.labels);
    const asMeshed = unionStats(stats, labels);
    const same =
      labels.every((l) => started.labels.includes(l)) &&
      now !== undefined &&
      asMeshed?.voxels === now.voxels &&
      now.voxels === then.voxels &&
      [0, 1, 2].every((k) => now.min[k] === then.min[k] && now.max[k] === then.max[k]);
    (same ? this.used : this.changed).push(label);
    return same ? started.mesh : undefined;
  }

  /** Ends the batch: the threads wait for the next job, or are ended if still meshing. */
  async close(): Promise<void> {
    await this.#batch?.close();
  }
}

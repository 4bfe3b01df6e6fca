import type { ExportSegment } from '../mesh/exportModels.ts';
import type { LabelMap, Segment, Volume } from '../volume/volume.ts';

/**
 * The contract every segmentation engine keeps: a volume in, a label map with its segment table out,
 * and optionally a glTF the engine wrote itself (Slicer's OpenAnatomy export). When an engine gives
 * no glTF, the shared mesher in `server/mesh/` makes one from the label map.
 */

export const ENGINE_NAMES = ['builtin', 'slicer', 'totalsegmentator'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** TotalSegmentator's models: 1.5 mm (several models), 3 mm (`--fast`), 6 mm (`--fastest`). */
export const QUALITIES = ['normal', 'fast', 'fastest'] as const;
export type Quality = (typeof QUALITIES)[number];
/** 'gpu' = CUDA when PyTorch sees it, else the CPU; 'mps' = Apple silicon's GPU (macOS). */
export const DEVICES = ['cpu', 'gpu', 'mps'] as const;
export type Device = (typeof DEVICES)[number];

export interface EngineInput {
  /** The volume in memory (our readers' output). */
  volume: Volume;
  /** The same volume as our canonical NIfTI (.nii.gz), for engines that run outside this process. */
  niftiPath: string;
  /** Base name for outputs, already safe for file names. */
  name: string;
}

export interface EngineContext {
  jobId: string;
  /** A private, empty folder for this run; removed by the caller afterwards. */
  workDir: string;
  /** Aborted on cancel, timeout of the job or shutdown. */
  signal: AbortSignal;
  /** Updates the job's progress (0-100) and status text. */
  progress(percent: number, status: string): Promise<void>;
  /** Appends a line to the job's log (kept in the database, shown by GET /api/jobs/:id). */
  log(line: string): void;
  /**
   * For an engine that segments in this process: `segment`'s voxels in `labelMap` are final while
   * the engine goes on with others, so its mesh may start now (mesh/startedMeshes.ts).
   */
  startMeshing?(labelMap: LabelMap, segment: ExportSegment): void;
}

export interface EngineResult {
  labelMap: LabelMap;
  segments: Segment[];
  /** Path of a glTF the engine wrote itself, if any. */
  gltfPath?: string;
  /** Engine and tool versions, for the job record. */
  versions?: Record<string, string>;
}

export interface Engine {
  readonly name: EngineName;
  run(input: EngineInput, ctx: EngineContext): Promise<EngineResult>;
}

/** The engine a process uses, chosen once at start (registry.ts), and why. */
export interface ChosenEngine {
  engine: Engine;
  /** Why it was chosen (shown by /healthz and in each job's log). */
  reason: string;
}

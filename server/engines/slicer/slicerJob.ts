import { resolve } from 'node:path';
import { allStructures } from '../../terminology/structures.ts';
import type { Device, EngineInput, Quality } from '../engine.ts';

/**
 * How `slicer/segment_and_export.py` is started. Its options travel in a JSON job file, the one
 * argument after the script: Slicer hands the script only what no layer before it took, and Qt
 * takes -name, -display, -style, -platform and more (with one dash or two) on every system, xcb on
 * Linux even more; Slicer itself takes its own options wherever they stand.
 */

export const SLICER_SCRIPT = resolve(import.meta.dirname, '../../../slicer/segment_and_export.py');

export interface SlicerJob {
  input: string;
  outputDir: string;
  name: string;
  task: string;
  quality: Quality;
  device: Device;
  subset: string[];
  reduction: number;
  /** TotalSegmentator class -> the name and colour (0..1) every engine gives it. */
  structures: Record<string, { name: string; color: number[] }>;
}

export function slicerJob(
  opts: { task?: string; quality?: Quality; device?: Device; subset?: readonly string[]; reduction: number },
  input: EngineInput,
  outDir: string,
): SlicerJob {
  const task = opts.task ?? 'total';
  const structures: SlicerJob['structures'] = {};
  // The structure table holds the `total` task's classes.
  if (task === 'total')
    for (const s of allStructures())
      if (s.id !== undefined) structures[s.structure] = { name: s.displayName, color: [...s.color] };
  return {
    input: input.niftiPath,
    outputDir: outDir,
    name: input.name,
    task,
    quality: opts.quality ?? 'normal',
    device: opts.device ?? 'gpu',
    subset: [...(opts.subset ?? [])],
    reduction: opts.reduction,
    structures,
  };
}

export function slicerArguments(scriptPath: string, jobFile: string): string[] {
  return ['--no-splash', '--no-main-window', '--python-script', scriptPath, jobFile];
}

/**
 * Slicer's environment. Its TotalSegmentator extension starts TotalSegmentator with the environment
 * Slicer itself started with (slicer.util.launchConsoleProcess), and TotalSegmentator never flushes:
 * without PYTHONUNBUFFERED its lines would all reach the extension, and us, when it exits.
 */
export function slicerEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PYTHONUNBUFFERED: '1' };
}

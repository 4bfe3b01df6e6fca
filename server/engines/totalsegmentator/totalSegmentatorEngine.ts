import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PermanentError } from '../../errors.ts';
import { totalSegmentatorSegments } from '../../terminology/structures.ts';
import type { Engine, EngineContext, EngineInput, EngineResult } from '../engine.ts';
import { labelsPresent, readEngineLabelMap } from '../labelMapFile.ts';
import { ProgramError, runProgram } from '../runProgram.ts';
import type { Device, Quality } from '../slicer/slicerEngine.ts';

/**
 * Runs the TotalSegmentator command line (`pip install TotalSegmentator`) for one multilabel
 * NIfTI; the gateway's mesher then builds the OpenAnatomy glTF with TotalSegmentator's class
 * names and Slicer's colours (EngineResult without gltfPath).
 */

export interface TotalSegmentatorEngineOptions {
  executable: string;
  timeoutSeconds: number;
  quality?: Quality;
  /** 'gpu' falls back to the CPU (TotalSegmentator says so in the log) when there is none. */
  device?: Device;
  task?: string;
  subset?: readonly string[];
  /** From `TotalSegmentator --version`, when the registry asked. */
  version?: string;
  env?: NodeJS.ProcessEnv;
  killGraceSeconds?: number;
}

export function totalSegmentatorArguments(
  opts: TotalSegmentatorEngineOptions,
  inputPath: string,
  outputPath: string,
): string[] {
  const args = ['-i', inputPath, '-o', outputPath, '--ml'];
  if (opts.quality === 'fast') args.push('--fast');
  if (opts.quality === 'fastest') args.push('--fastest');
  if (opts.task && opts.task !== 'total') args.push('--task', opts.task);
  if (opts.subset && opts.subset.length) args.push('--roi_subset', ...opts.subset);
  args.push('--device', opts.device ?? 'gpu');
  return args;
}

const PART = /Predicting part (\d+) of (\d+)/;

export function createTotalSegmentatorEngine(opts: TotalSegmentatorEngineOptions): Engine {
  return {
    name: 'totalsegmentator',
    async run(input: EngineInput, ctx: EngineContext): Promise<EngineResult> {
      // The .nii.gz extension makes TotalSegmentator write exactly this file (nibabel adds none).
      const outputPath = join(ctx.workDir, `${input.name}_totalseg.nii.gz`);
      const args = totalSegmentatorArguments(opts, input.niftiPath, outputPath);
      ctx.log(`starting TotalSegmentator ${opts.executable} ${args.slice(4).join(' ')}`);
      await ctx.progress(1, `Segmenting with TotalSegmentator (${opts.quality ?? 'normal'})`);
      let chain: Promise<void> = Promise.resolve();
      const report = (percent: number, status: string): void => {
        chain = chain.then(() => ctx.progress(percent, status)).catch(() => {});
      };
      try {
        await runProgram({
          command: opts.executable,
          args,
          label: 'TotalSegmentator',
          env: opts.env,
          signal: ctx.signal,
          timeoutMs: opts.timeoutSeconds * 1000,
          timeoutSetting: 'SLICER_TIMEOUT_SECONDS',
          killGraceMs: (opts.killGraceSeconds ?? 10) * 1000,
          onLine: (stream, line) => {
            if (line.trim() === '') return;
            ctx.log(`[totalsegmentator${stream === 'stderr' ? ' stderr' : ''}] ${line}`);
            const m = PART.exec(line);
            if (m) {
              const [part, total] = [Number(m[1]), Math.max(1, Number(m[2]))];
              report(
                Math.round(5 + (80 * (part - 1)) / total),
                `Segmenting with TotalSegmentator (part ${part} of ${total})`,
              );
            } else if (line.startsWith('Saving segmentations')) {
              report(88, 'Saving the segmentation');
            }
          },
        });
      } catch (err) {
        await chain;
        if (err instanceof ProgramError) {
          if (err.reason === 'spawn') {
            throw new PermanentError(
              `${err.message}. Install it with "pip install TotalSegmentator" or set TOTALSEGMENTATOR_PATH.`,
              { cause: err },
            );
          }
          if (err.reason === 'timeout') throw new PermanentError(err.message, { cause: err });
        }
        throw err;
      }
      await chain;
      if (!existsSync(outputPath))
        throw new Error(`TotalSegmentator finished but wrote no segmentation (${outputPath})`);
      await ctx.progress(92, 'Reading the segmentation');
      const labelMap = await readEngineLabelMap(outputPath, input.volume, 'TotalSegmentator');
      const labels = labelsPresent(labelMap);
      if (labels.length === 0)
        throw new PermanentError('TotalSegmentator found no structures in this volume (is it a CT of the body?)');
      // The bundled class map is the `total` task's; other tasks keep their label numbers as names.
      const segments =
        !opts.task || opts.task === 'total'
          ? totalSegmentatorSegments(labels)
          : labels.map((label) => ({
              ...totalSegmentatorSegments([100000 + label])[0]!,
              label,
              name: `${opts.task}_${label}`,
            }));
      return {
        labelMap,
        segments,
        versions: { engine: 'totalsegmentator', ...(opts.version ? { totalsegmentator: opts.version } : {}) },
      };
    },
  };
}

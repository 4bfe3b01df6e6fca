import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PermanentError } from '../../errors.ts';
import { totalSegmentatorSegments } from '../../terminology/structures.ts';
import type { Device, Engine, EngineContext, EngineInput, EngineResult, Quality } from '../engine.ts';
import { labelsPresent, readEngineLabelMap } from '../labelMapFile.ts';
import { PredictionProgress } from '../predictionProgress.ts';
import { ProgramError, runProgram } from '../runProgram.ts';
import { isProgressBar, parseTotalSegmentatorLine, refusalIn } from '../totalSegmentatorOutput.ts';

/**
 * Runs the TotalSegmentator command line (`pip install TotalSegmentator`) for one multilabel
 * NIfTI; the gateway's mesher then builds the OpenAnatomy glTF with the structure table's names
 * and colours (EngineResult without gltfPath).
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
  /** How often the progress estimate of a running prediction moves. */
  progressTickMs?: number;
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

/**
 * The program's environment. TotalSegmentator never flushes its output, so through a pipe Python
 * would hold every line until the end: PYTHONUNBUFFERED makes each stage line arrive when printed.
 */
export function totalSegmentatorEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PYTHONUNBUFFERED: '1' };
}

/** Lines kept for recognising a refusal: the licence text sits before a traceback of any length. */
const KEPT_LINES = 400;

export function createTotalSegmentatorEngine(opts: TotalSegmentatorEngineOptions): Engine {
  return {
    name: 'totalsegmentator',
    async run(input: EngineInput, ctx: EngineContext): Promise<EngineResult> {
      // The .nii.gz extension makes TotalSegmentator write exactly this file (nibabel adds none).
      const outputPath = join(ctx.workDir, `${input.name}_totalseg.nii.gz`);
      const args = totalSegmentatorArguments(opts, input.niftiPath, outputPath);
      const quality = opts.quality ?? 'normal';
      ctx.log(`starting TotalSegmentator ${opts.executable} ${args.slice(4).join(' ')}`);
      await ctx.progress(1, `Starting TotalSegmentator (${quality})`);
      // Progress updates are serialised so a slow database never reorders them.
      let chain: Promise<void> = Promise.resolve();
      const progress = new PredictionProgress({
        from: 2,
        to: 90,
        quality,
        device: opts.device ?? 'gpu',
        report: (percent, status) => {
          chain = chain.then(() => ctx.progress(percent, status)).catch(() => {});
        },
      });
      const ticker = setInterval(() => progress.tick(), opts.progressTickMs ?? 2000);
      const lines: string[] = [];
      try {
        await runProgram({
          command: opts.executable,
          args,
          label: 'TotalSegmentator',
          env: totalSegmentatorEnvironment(opts.env),
          signal: ctx.signal,
          timeoutMs: opts.timeoutSeconds * 1000,
          timeoutSetting: 'SLICER_TIMEOUT_SECONDS',
          killGraceMs: (opts.killGraceSeconds ?? 10) * 1000,
          omitFromTail: (line) => isProgressBar(line) !== undefined,
          onLine: (stream, line) => {
            if (line.trim() === '') return;
            lines.push(line);
            if (lines.length > KEPT_LINES) lines.shift();
            const event = parseTotalSegmentatorLine(line);
            if (event) progress.event(event);
            const bar = isProgressBar(line);
            if (!bar || bar.complete) ctx.log(`[totalsegmentator${stream === 'stderr' ? ' stderr' : ''}] ${line}`);
          },
        });
      } catch (err) {
        clearInterval(ticker);
        await chain;
        if (err instanceof ProgramError) {
          if (err.reason === 'spawn') {
            throw new PermanentError(
              `${err.message}. Install it with "pip install TotalSegmentator" or set TOTALSEGMENTATOR_PATH.`,
              { cause: err },
            );
          }
          if (err.reason === 'timeout') throw new PermanentError(err.message, { cause: err });
          const refusal = err.reason === 'exit' ? refusalIn(lines) : undefined;
          // A licence or an option it rejects fails the same way on every attempt.
          if (refusal)
            throw new PermanentError(`TotalSegmentator refused the job (exit code ${err.exitCode}): ${refusal}`, {
              cause: err,
            });
        }
        throw err;
      }
      clearInterval(ticker);
      await chain;
      if (!existsSync(outputPath))
        throw new Error(`TotalSegmentator finished but wrote no segmentation (${outputPath})`);
      await ctx.progress(92, 'Reading the segmentation');
      const labelMap = await readEngineLabelMap(outputPath, input.volume, 'TotalSegmentator');
      const labels = labelsPresent(labelMap);
      if (labels.length === 0)
        throw new PermanentError('TotalSegmentator found no structures in this volume (is it a CT of the body?)');
      // The structure table holds the `total` task; other tasks keep their label numbers as names.
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

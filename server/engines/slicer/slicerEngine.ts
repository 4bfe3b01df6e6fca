import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PermanentError } from '../../errors.ts';
import type { Device, Engine, EngineContext, EngineInput, EngineResult, Quality } from '../engine.ts';
import { readEngineLabelMap } from '../labelMapFile.ts';
import { PredictionProgress } from '../predictionProgress.ts';
import { ProgramError, runProgram, withVirtualDisplay } from '../runProgram.ts';
import { parseTotalSegmentatorLine } from '../totalSegmentatorOutput.ts';
import { followLines } from './progressFile.ts';
import { SLICER_SCRIPT, slicerArguments, slicerEnvironment, slicerJob } from './slicerJob.ts';
import { type SlicerManifest, parseManifest, parseProgress, parseSegmentsFile } from './slicerOutputs.ts';

/**
 * Runs `slicer/segment_and_export.py` in 3D Slicer (TotalSegmentator extension for the
 * segmentation, SlicerOpenAnatomy for the glTF) and turns what it leaves in its output folder
 * into an EngineResult (slicerOutputs.ts reads it).
 */

export { SLICER_SCRIPT } from './slicerJob.ts';

export interface SlicerEngineOptions {
  slicerPath: string;
  timeoutSeconds: number;
  /** Fraction of triangles OpenAnatomy's decimation removes (MESH_REDUCTION). */
  reduction: number;
  quality?: Quality;
  /** 'gpu' uses a GPU when PyTorch sees one and falls back to the CPU otherwise. */
  device?: Device;
  task?: string;
  subset?: readonly string[];
  scriptPath?: string;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** Seconds between SIGTERM and SIGKILL when the run is stopped. */
  killGraceSeconds?: number;
  progressIntervalMs?: number;
  /** How often the progress estimate of a running prediction moves. */
  progressTickMs?: number;
}

/** The script's percent (0-100) on the job's scale. */
const fromScript = (percent: number): number => Math.round(1 + percent * 0.94);
/** The script's segmentation stage, between its 15% and 70%. */
const SEGMENTATION_WINDOW = { from: fromScript(15), to: fromScript(70) };

async function readManifest(outDir: string): Promise<SlicerManifest | null> {
  try {
    return parseManifest(await readFile(join(outDir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
}

function manifestFailure(m: SlicerManifest, exit: string): Error {
  const e = m.error ?? { kind: 'processing', message: 'the script reported a failure without a message' };
  const what =
    e.kind === 'missing-requirement'
      ? 'is missing a requirement'
      : e.kind === 'refused'
        ? 'could not take the job'
        : 'segmentation failed';
  const text = `3D Slicer ${what} (${exit}): ${e.message}${e.fix ? `. Fix: ${e.fix}` : ''}`;
  // A missing extension, a bad job or a refusal will fail the same way on every retry.
  return e.kind === 'processing' ? new Error(text) : new PermanentError(text);
}

export function createSlicerEngine(opts: SlicerEngineOptions): Engine {
  return {
    name: 'slicer',
    async run(input: EngineInput, ctx: EngineContext): Promise<EngineResult> {
      const outDir = join(ctx.workDir, 'slicer-output');
      await mkdir(outDir, { recursive: true });
      const jobFile = join(outDir, 'job.json');
      await writeFile(jobFile, `${JSON.stringify(slicerJob(opts, input, outDir), null, 2)}\n`);
      const env = slicerEnvironment(opts.env ?? process.env);
      const { command, args, virtualDisplay } = withVirtualDisplay(
        opts.slicerPath,
        slicerArguments(opts.scriptPath ?? SLICER_SCRIPT, jobFile),
        { platform: opts.platform, env },
      );
      ctx.log(
        `starting 3D Slicer ${opts.slicerPath}${virtualDisplay ? ' under xvfb-run' : ''} (quality ${opts.quality ?? 'normal'}, device ${opts.device ?? 'gpu'})`,
      );
      await ctx.progress(1, 'Starting 3D Slicer');

      // Progress updates are serialised so a slow database never reorders them.
      let progressChain: Promise<void> = Promise.resolve();
      let lastPercent = -1;
      const report = (percent: number, status: string): void => {
        if (percent < lastPercent) return;
        lastPercent = percent;
        progressChain = progressChain.then(() => ctx.progress(percent, status)).catch(() => {});
      };
      // TotalSegmentator's stage lines, passed on by the script, move progress inside its stage.
      const prediction = new PredictionProgress({
        ...SEGMENTATION_WINDOW,
        quality: opts.quality ?? 'normal',
        device: opts.device ?? 'gpu',
        report,
      });
      const progress = followLines(
        join(outDir, 'progress.jsonl'),
        (line) => {
          const p = parseProgress(line);
          if (!p) return;
          if (p.totalsegmentator === undefined) return report(fromScript(p.percent), p.status);
          const event = parseTotalSegmentatorLine(p.totalsegmentator);
          if (event) prediction.event(event);
        },
        opts.progressIntervalMs ?? 500,
      );
      const ticker = setInterval(() => prediction.tick(), opts.progressTickMs ?? 2000);

      let stdoutLines = 0;
      let runError: unknown;
      try {
        await runProgram({
          command,
          args,
          label: '3D Slicer',
          env,
          platform: opts.platform,
          signal: ctx.signal,
          timeoutMs: opts.timeoutSeconds * 1000,
          timeoutSetting: 'SLICER_TIMEOUT_SECONDS',
          killGraceMs: (opts.killGraceSeconds ?? 10) * 1000,
          onLine: (stream, line) => {
            if (line.startsWith('AGW_PROGRESS ')) return;
            if (stream === 'stdout') stdoutLines++;
            ctx.log(`[slicer${stream === 'stderr' ? ' stderr' : ''}] ${line}`);
          },
        });
      } catch (err) {
        runError = err;
      } finally {
        clearInterval(ticker);
        await progress.stop();
        await progressChain;
      }

      if (stdoutLines === 0) {
        // Windows Slicer keeps print() to itself; the script's own log file has the same lines.
        try {
          const text = await readFile(join(outDir, 'script.log'), 'utf8');
          for (const line of text.split(/\r?\n/)) if (line !== '') ctx.log(`[slicer] ${line}`);
        } catch {
          // no log written: the script never started
        }
      }

      const manifest = await readManifest(outDir);
      if (runError !== undefined) {
        if (runError instanceof ProgramError && (runError.reason === 'timeout' || runError.reason === 'cancelled')) {
          if (runError.reason === 'timeout') throw new PermanentError(runError.message, { cause: runError });
          throw runError;
        }
        if (manifest && manifest.status === 'failed') {
          const exit =
            runError instanceof ProgramError && runError.exitCode !== null
              ? `exit code ${runError.exitCode}`
              : 'Slicer failed';
          throw manifestFailure(manifest, exit);
        }
        if (runError instanceof ProgramError && runError.reason === 'spawn') {
          throw new PermanentError(
            `${runError.message}. Set SLICER_PATH to the Slicer executable (e.g. Slicer.exe of Slicer 5.6 or later).`,
            { cause: runError },
          );
        }
        throw runError instanceof Error ? runError : new Error(String(runError));
      }
      if (!manifest) {
        throw new Error(
          '3D Slicer exited without the script writing manifest.json: the script did not run (check that this Slicer starts with --python-script; see the job log)',
        );
      }
      if (manifest.status !== 'succeeded') throw manifestFailure(manifest, 'exit code 0');
      for (const w of manifest.warnings) ctx.log(`warning: ${w}`);

      const { labelMap: labelFile, segments: segmentsFile } = manifest.outputs;
      if (!labelFile || !segmentsFile)
        throw new Error('3D Slicer reported success but its manifest names no label map or segments file');
      const labelPath = join(outDir, labelFile);
      if (!existsSync(labelPath)) throw new Error(`3D Slicer's manifest lists ${labelFile} but the file is missing`);
      await ctx.progress(96, 'Reading the segmentation from 3D Slicer');
      const labelMap = await readEngineLabelMap(labelPath, input.volume, '3D Slicer');
      const segments = parseSegmentsFile(await readFile(join(outDir, segmentsFile), 'utf8'));
      if (segments.length === 0) throw new Error('TotalSegmentator found no structures in this volume');

      let gltfPath: string | undefined;
      if (manifest.outputs.gltf) {
        const candidate = join(outDir, manifest.outputs.gltf);
        if (await usableGltf(candidate)) gltfPath = candidate;
        else
          ctx.log(
            `warning: 3D Slicer's glTF ${manifest.outputs.gltf} is missing or unreadable; the gateway's mesher will build the model`,
          );
      } else {
        ctx.log("3D Slicer wrote no glTF; the gateway's mesher will build the model from the label map");
      }
      return {
        labelMap,
        segments,
        ...(gltfPath ? { gltfPath } : {}),
        versions: { engine: 'slicer', ...manifest.versions },
      };
    },
  };
}

async function usableGltf(path: string): Promise<boolean> {
  try {
    if ((await stat(path)).size === 0) return false;
    const json: unknown = JSON.parse(await readFile(path, 'utf8'));
    const gltf = json as { asset?: unknown; meshes?: unknown } | null;
    return (
      typeof gltf?.asset === 'object' && gltf.asset !== null && Array.isArray(gltf.meshes) && gltf.meshes.length > 0
    );
  } catch {
    return false;
  }
}

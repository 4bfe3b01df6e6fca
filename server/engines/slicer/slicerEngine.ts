import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PermanentError } from '../../errors.ts';
import type { Rgb, Segment } from '../../volume/volume.ts';
import type { Device, Engine, EngineContext, EngineInput, EngineResult, Quality } from '../engine.ts';
import { readEngineLabelMap } from '../labelMapFile.ts';
import { ProgramError, runProgram, withVirtualDisplay } from '../runProgram.ts';
import { followLines } from './progressFile.ts';

/**
 * Runs `slicer/segment_and_export.py` in 3D Slicer (TotalSegmentator extension for the
 * segmentation, SlicerOpenAnatomy for the glTF) and turns what it leaves in its output folder
 * into an EngineResult. The script's manifest.json is the source of truth: exit codes alone
 * cannot tell "extension missing" from "segmentation failed", and on Windows nothing else
 * comes back from Slicer.
 */

export const SLICER_SCRIPT = resolve(import.meta.dirname, '../../../slicer/segment_and_export.py');

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
}

interface ManifestError {
  kind: string;
  message: string;
  fix?: string;
}

export interface SlicerManifest {
  status: 'succeeded' | 'failed';
  exitCode: number;
  outputs: { labelMap: string | null; segments: string | null; gltf: string | null };
  versions: Record<string, string>;
  warnings: string[];
  error: ManifestError | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Narrows the script's manifest.json; null when it is missing or not the script's format. */
export function parseManifest(text: string): SlicerManifest | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(raw) || (raw.status !== 'succeeded' && raw.status !== 'failed')) return null;
  const outputs = isRecord(raw.outputs) ? raw.outputs : {};
  const versions: Record<string, string> = {};
  if (isRecord(raw.versions))
    for (const [k, v] of Object.entries(raw.versions)) if (typeof v === 'string') versions[k] = v;
  const err = isRecord(raw.error) ? raw.error : null;
  return {
    status: raw.status,
    exitCode: typeof raw.exitCode === 'number' ? raw.exitCode : -1,
    outputs: { labelMap: str(outputs.labelMap), segments: str(outputs.segments), gltf: str(outputs.gltf) },
    versions,
    warnings: Array.isArray(raw.warnings) ? raw.warnings.filter((w): w is string => typeof w === 'string') : [],
    error: err
      ? {
          kind: str(err.kind) ?? 'processing',
          message: str(err.message) ?? 'unknown error',
          ...(str(err.fix) ? { fix: str(err.fix)! } : {}),
        }
      : null,
  };
}

/** Narrows `<name>_segments.json` into our Segment table. */
export function parseSegmentsFile(text: string): Segment[] {
  const raw: unknown = JSON.parse(text);
  const list = isRecord(raw) && Array.isArray(raw.segments) ? raw.segments : null;
  if (!list) throw new Error('the segments file has no "segments" list');
  return list.map((s, i): Segment => {
    if (!isRecord(s) || typeof s.label !== 'number' || !Number.isInteger(s.label) || s.label < 1) {
      throw new Error(`segment ${i + 1} in the segments file has no valid label`);
    }
    const c =
      Array.isArray(s.color) && s.color.length >= 3 && s.color.every((x) => typeof x === 'number')
        ? (s.color as number[])
        : [0.8, 0.8, 0.8];
    const color: Rgb = [clamp01(c[0]!), clamp01(c[1]!), clamp01(c[2]!)];
    const seg: Segment = {
      label: s.label,
      name: str(s.name) ?? str(s.totalSegmentatorName) ?? `label_${s.label}`,
      color,
    };
    if (typeof s.totalSegmentatorId === 'number') seg.totalSegmentatorId = s.totalSegmentatorId;
    return seg;
  });
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}

interface ProgressRecord {
  percent: number;
  status: string;
}

function parseProgress(line: string): ProgressRecord | null {
  try {
    const r: unknown = JSON.parse(line);
    if (isRecord(r) && typeof r.percent === 'number' && typeof r.status === 'string')
      return { percent: r.percent, status: r.status };
  } catch {
    // a half-written line; the next poll has it whole
  }
  return null;
}

export function slicerArguments(opts: SlicerEngineOptions, input: EngineInput, outDir: string): string[] {
  const args = [
    '--no-splash',
    '--no-main-window',
    '--python-script',
    opts.scriptPath ?? SLICER_SCRIPT,
    '--input',
    input.niftiPath,
    '--output-dir',
    outDir,
    '--name',
    input.name,
    '--task',
    opts.task ?? 'total',
    '--quality',
    opts.quality ?? 'normal',
    '--device',
    opts.device ?? 'gpu',
    '--reduction',
    String(opts.reduction),
  ];
  if (opts.subset && opts.subset.length) args.push('--subset', opts.subset.join(','));
  return args;
}

async function readManifest(outDir: string): Promise<SlicerManifest | null> {
  try {
    return parseManifest(await readFile(join(outDir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
}

function manifestFailure(m: SlicerManifest, exit: string): Error {
  const e = m.error ?? { kind: 'processing', message: 'the script reported a failure without a message' };
  const text = `3D Slicer ${e.kind === 'missing-requirement' ? 'is missing a requirement' : 'segmentation failed'} (${exit}): ${e.message}${e.fix ? `. Fix: ${e.fix}` : ''}`;
  // A missing extension or a bad argument will fail the same way on every retry.
  return e.kind === 'processing' ? new Error(text) : new PermanentError(text);
}

export function createSlicerEngine(opts: SlicerEngineOptions): Engine {
  return {
    name: 'slicer',
    async run(input: EngineInput, ctx: EngineContext): Promise<EngineResult> {
      const outDir = join(ctx.workDir, 'slicer-output');
      await mkdir(outDir, { recursive: true });
      const env = opts.env ?? process.env;
      const { command, args, virtualDisplay } = withVirtualDisplay(
        opts.slicerPath,
        slicerArguments(opts, input, outDir),
        {
          platform: opts.platform,
          env,
        },
      );
      ctx.log(
        `starting 3D Slicer ${opts.slicerPath}${virtualDisplay ? ' under xvfb-run' : ''} (quality ${opts.quality ?? 'normal'}, device ${opts.device ?? 'gpu'})`,
      );
      await ctx.progress(1, 'Starting 3D Slicer');

      // Progress updates are serialised so a slow database never reorders them.
      let progressChain: Promise<void> = Promise.resolve();
      let lastPercent = -1;
      const progress = followLines(
        join(outDir, 'progress.jsonl'),
        (line) => {
          const p = parseProgress(line);
          if (!p) return;
          const percent = Math.round(1 + p.percent * 0.94);
          if (percent < lastPercent) return;
          lastPercent = percent;
          progressChain = progressChain.then(() => ctx.progress(percent, p.status)).catch(() => {});
        },
        opts.progressIntervalMs ?? 500,
      );

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
    return isRecord(json) && isRecord(json.asset) && Array.isArray(json.meshes) && json.meshes.length > 0;
  } catch {
    return false;
  }
}

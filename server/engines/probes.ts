import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProgram, withVirtualDisplay } from './runProgram.ts';
import { slicerEnvironment } from './slicer/slicerJob.ts';

/** Quick real checks of the outside engines, shared by engine selection and `doctor`. */

export const PROBE_SCRIPT = resolve(import.meta.dirname, '../../slicer/probe.py');
export const MIN_SLICER: readonly number[] = [5, 6];
/**
 * From 2.2.0 the `total` task numbers its classes as the structure table does (2.0 and 2.1 number
 * the ribs differently) and the CLI has --device (1.x has not), --fastest and `--device mps`.
 */
export const MIN_TOTALSEGMENTATOR: readonly number[] = [2, 2, 0];

export function parseVersion(text: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/** Compares dotted versions part by part; missing parts count as 0. */
export function atLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < min.length; i++) {
    const v = parts[i] ?? 0;
    if (v !== min[i]) return v > min[i]!;
  }
  return true;
}

/** Why this TotalSegmentator cannot be used, or undefined when it can. */
export function totalSegmentatorTooOld(version: string): string | undefined {
  if (atLeast(version, MIN_TOTALSEGMENTATOR)) return undefined;
  return `TotalSegmentator ${version} is too old: ${MIN_TOTALSEGMENTATOR.join('.')} or later needed; upgrade with "pip install --upgrade TotalSegmentator"`;
}

/** `Slicer --version` ("Slicer 5.6.2"); rejects with the reason when it does not run. */
export async function slicerVersion(
  slicerPath: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 120_000,
): Promise<string> {
  const { command, args } = withVirtualDisplay(slicerPath, ['--version'], { env });
  const lines: string[] = [];
  await runProgram({ command, args, env, label: '3D Slicer', timeoutMs, onLine: (_s, l) => lines.push(l) });
  const line = lines.find((l) => /Slicer\s+\d/.test(l)) ?? lines.join(' ');
  const version = parseVersion(line);
  if (!version)
    throw new Error(`${slicerPath} --version printed no version (${lines.slice(0, 3).join(' | ') || 'nothing'})`);
  return version;
}

export interface SlicerProbe {
  ok: boolean;
  slicer?: string;
  extensions?: Record<string, boolean>;
  modules?: Record<string, true | string>;
  packages?: Record<string, string | null>;
  cuda?: boolean | null;
  error?: string;
}

/** Runs slicer/probe.py inside Slicer: extensions, importable modules, PyTorch. */
export async function probeSlicer(
  slicerPath: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 300_000,
): Promise<SlicerProbe> {
  const dir = await mkdtemp(join(tmpdir(), 'slicer-probe-'));
  try {
    const out = join(dir, 'probe.json');
    const { command, args } = withVirtualDisplay(
      slicerPath,
      // The output path is the script's one argument: no toolkit takes an argument without a dash.
      ['--no-splash', '--no-main-window', '--python-script', PROBE_SCRIPT, out],
      { env },
    );
    await runProgram({ command, args, env: slicerEnvironment(env), label: '3D Slicer', timeoutMs, killGraceMs: 2000 });
    const raw: unknown = JSON.parse(await readFile(out, 'utf8'));
    if (typeof raw !== 'object' || raw === null) throw new Error('the probe wrote no result');
    return raw as SlicerProbe;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `TotalSegmentator --version`. */
export async function totalSegmentatorVersion(
  executable: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 120_000,
): Promise<string> {
  const lines: string[] = [];
  await runProgram({
    command: executable,
    args: ['--version'],
    env,
    label: 'TotalSegmentator',
    timeoutMs,
    onLine: (_s, l) => lines.push(l),
  });
  const version = parseVersion(lines.join(' '));
  if (!version) throw new Error(`${executable} --version printed no version`);
  return version;
}

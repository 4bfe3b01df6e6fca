import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runProgram, withVirtualDisplay } from './runProgram.ts';

/** Quick real checks of the outside engines, shared by engine selection and `doctor`. */

export const PROBE_SCRIPT = resolve(import.meta.dirname, '../../slicer/probe.py');
export const MIN_SLICER: readonly [number, number] = [5, 6];

export function parseVersion(text: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

export function atLeast(version: string, min: readonly [number, number]): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > min[0] || (a === min[0] && b >= min[1]);
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
      ['--no-splash', '--no-main-window', '--python-script', PROBE_SCRIPT, '--output', out],
      { env },
    );
    await runProgram({ command, args, env, label: '3D Slicer', timeoutMs, killGraceMs: 2000 });
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

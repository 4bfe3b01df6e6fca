import type { Config } from '../config/config.ts';
import { silentLogger } from '../log.ts';
import {
  type SlicerProbe,
  MIN_SLICER,
  MIN_TOTALSEGMENTATOR,
  atLeast,
  probeSlicer,
  totalSegmentatorTooOld,
} from './probes.ts';
import { defaultRegistryDeps, resolveEngine, type RegistryDeps } from './registry.ts';
import { resolveExecutable } from './runProgram.ts';

/**
 * `main.ts doctor`: checks each engine for real (Slicer runs a probe script inside itself; the
 * TotalSegmentator CLI prints its version) and prints what is missing with how to fix it.
 * Exit code 0 when the engine the configuration selects can run, 1 otherwise.
 */

export interface DoctorDeps extends RegistryDeps {
  probeSlicer: (path: string) => Promise<SlicerProbe>;
}

export const defaultDoctorDeps: DoctorDeps = {
  ...defaultRegistryDeps,
  probeSlicer: (p) => probeSlicer(p),
};

const EXTENSION_FIX: Record<string, string> = {
  TotalSegmentator:
    "in Slicer: View > Extensions Manager > install 'TotalSegmentator' (brings PyTorch and NNUNet), restart Slicer",
  SlicerOpenAnatomy: "in Slicer: View > Extensions Manager > install 'SlicerOpenAnatomy', restart Slicer",
  PyTorch: "in Slicer: View > Extensions Manager > install 'PyTorch', restart Slicer",
  NNUNet: "in Slicer: View > Extensions Manager > install 'NNUNet', restart Slicer",
};

async function checkSlicer(config: Config, deps: DoctorDeps, write: (l: string) => void): Promise<boolean> {
  const path = config.slicerPath ? resolveExecutable(config.slicerPath, deps.env) : deps.discoverSlicer();
  if (!path) {
    write(
      config.slicerPath
        ? `  FAIL SLICER_PATH=${config.slicerPath} is not an executable file`
        : '  --   no 3D Slicer found (SLICER_PATH unset, nothing in the standard install places)',
    );
    write(
      `       fix: install 3D Slicer ${MIN_SLICER.join('.')} or later from https://download.slicer.org and set SLICER_PATH to its executable`,
    );
    return false;
  }
  write(`  path ${path}`);
  let probe: SlicerProbe;
  try {
    probe = await deps.probeSlicer(path);
  } catch (err) {
    write(`  FAIL Slicer did not run the probe script: ${err instanceof Error ? err.message : String(err)}`);
    write('       fix: start Slicer by hand once; on a Linux server install xvfb (xvfb-run) so Slicer has a display');
    return false;
  }
  if (!probe.ok) {
    write(`  FAIL probe failed inside Slicer: ${probe.error ?? 'unknown error'}`);
    return false;
  }
  let ok = true;
  const version = probe.slicer ?? '?';
  if (atLeast(version, MIN_SLICER)) write(`  ok   Slicer ${version}`);
  else {
    write(`  FAIL Slicer ${version} is older than ${MIN_SLICER.join('.')}; install a current Slicer`);
    ok = false;
  }
  for (const [ext, installed] of Object.entries(probe.extensions ?? {})) {
    if (installed) write(`  ok   extension ${ext}`);
    else {
      write(`  FAIL extension ${ext} is not installed`);
      write(`       fix: ${EXTENSION_FIX[ext] ?? `install '${ext}' from the Extensions Manager`}`);
      ok = false;
    }
  }
  for (const [mod, state] of Object.entries(probe.modules ?? {})) {
    if (state !== true) {
      write(`  FAIL module ${mod} cannot be imported: ${state}`);
      ok = false;
    }
  }
  const missing = Object.entries(probe.packages ?? {}).filter(
    ([, v]) => v === null || (typeof v === 'string' && v.startsWith('broken')),
  );
  for (const [pkg, v] of Object.entries(probe.packages ?? {}))
    if (v && !v.startsWith('broken')) write(`  ok   python package ${pkg} ${v}`);
  const inSlicer = probe.packages?.totalsegmentator;
  if (inSlicer && !inSlicer.startsWith('broken') && !atLeast(inSlicer, MIN_TOTALSEGMENTATOR))
    write(
      `  WARN TotalSegmentator ${inSlicer} in Slicer is older than ${MIN_TOTALSEGMENTATOR.join('.')}: update the TotalSegmentator extension (View > Extensions Manager)`,
    );
  if (missing.length) {
    write(
      `  WARN python packages missing or broken in Slicer: ${missing.map(([p, v]) => (v ? `${p} (${v})` : p)).join(', ')}`,
    );
    write(
      '       the first job installs them (5-10 minutes, several GB); to do it now: open Slicer, TotalSegmentator module, Apply once',
    );
  }
  if (probe.cuda === true) write('  ok   CUDA GPU available to PyTorch');
  else if (probe.cuda === false)
    write(
      '  note no CUDA GPU: full-resolution segmentation on CPU takes 40-50 minutes per CT; fast mode about 1-2 minutes',
    );
  return ok;
}

async function checkTotalSegmentator(config: Config, deps: DoctorDeps, write: (l: string) => void): Promise<boolean> {
  const path = resolveExecutable(config.totalSegmentatorPath ?? 'TotalSegmentator', deps.env);
  if (!path) {
    write(
      config.totalSegmentatorPath
        ? `  FAIL TOTALSEGMENTATOR_PATH=${config.totalSegmentatorPath} is not an executable file`
        : '  --   TotalSegmentator is not on PATH',
    );
    write('       fix: pip install TotalSegmentator (Python 3.10+, PyTorch 2), or set TOTALSEGMENTATOR_PATH');
    return false;
  }
  let version: string;
  try {
    version = await deps.totalSegmentatorVersion(path);
  } catch (err) {
    write(`  FAIL ${path} does not run: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    write('       fix: reinstall with pip install --upgrade TotalSegmentator');
    return false;
  }
  const tooOld = totalSegmentatorTooOld(version);
  if (tooOld) {
    write(`  FAIL ${tooOld}`);
    write(`       at ${path}`);
    return false;
  }
  write(`  ok   TotalSegmentator ${version} at ${path}`);
  const device = deps.settings?.device ?? config.segmentationDevice;
  if (device === 'mps' && (deps.platform ?? process.platform) !== 'darwin') {
    write('  FAIL SEGMENTATION_DEVICE=mps needs a Mac with Apple silicon; set gpu or cpu');
    return false;
  }
  return true;
}

export async function runDoctor(
  config: Config,
  write: (line: string) => void,
  deps: DoctorDeps = defaultDoctorDeps,
): Promise<number> {
  write(`engine setting: ENGINE=${config.engine}`);
  write('3D Slicer + TotalSegmentator + OpenAnatomy:');
  const slicerOk = await checkSlicer(config, deps, write);
  write('TotalSegmentator command line:');
  const tsOk = await checkTotalSegmentator(config, deps, write);
  write('built-in engine:');
  let builtinOk = true;
  try {
    await deps.loadBuiltin();
    write('  ok   always available (body, lungs, bones from CT thresholds)');
  } catch (err) {
    builtinOk = false;
    write(`  FAIL ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const { engine, reason } = await resolveEngine(config, silentLogger(), deps);
    write(`selected: ${engine.name} (${reason})`);
  } catch (err) {
    write(`selected: none: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const selectedOk =
    config.engine === 'slicer'
      ? slicerOk
      : config.engine === 'totalsegmentator'
        ? tsOk
        : config.engine === 'builtin'
          ? builtinOk
          : slicerOk || tsOk || builtinOk;
  return selectedOk ? 0 : 1;
}

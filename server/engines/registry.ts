import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { builtinEngine } from './builtin/builtinEngine.ts';
import type { Device, Engine, Quality } from './engine.ts';
import { MIN_SLICER, atLeast, slicerVersion, totalSegmentatorTooOld, totalSegmentatorVersion } from './probes.ts';
import { resolveExecutable } from './runProgram.ts';
import { discoverSlicer } from './slicer/discoverSlicer.ts';
import { createSlicerEngine } from './slicer/slicerEngine.ts';
import { createTotalSegmentatorEngine } from './totalsegmentator/totalSegmentatorEngine.ts';

/**
 * Picks the segmentation engine at start. ENGINE=auto prefers the most capable engine that
 * really runs here (Slicer, then the TotalSegmentator CLI, then the built-in engine) and says
 * why; an explicit ENGINE that cannot run stops the start with the fix, because silently
 * segmenting with a weaker engine than the one configured would mislead users.
 */

export class EngineUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}

export interface EngineSettings {
  quality: Quality;
  device: Device;
}

export interface RegistryDeps {
  env: NodeJS.ProcessEnv;
  discoverSlicer: () => string | undefined;
  slicerVersion: (path: string) => Promise<string>;
  totalSegmentatorVersion: (path: string) => Promise<string>;
  loadBuiltin: () => Promise<Engine>;
  /** Overrides SEGMENTATION_QUALITY / SEGMENTATION_DEVICE from the config (tests). */
  settings?: EngineSettings;
  /** The system engines run on (tests); process.platform otherwise. */
  platform?: NodeJS.Platform;
}

export const defaultRegistryDeps: RegistryDeps = {
  env: process.env,
  discoverSlicer: () => discoverSlicer(),
  slicerVersion: (p) => slicerVersion(p),
  totalSegmentatorVersion: (p) => totalSegmentatorVersion(p),
  loadBuiltin: () => Promise.resolve(builtinEngine),
};

function engineSettings(config: Config, deps: RegistryDeps): EngineSettings {
  return deps.settings ?? { quality: config.segmentationQuality, device: config.segmentationDevice };
}

type Attempt = { engine: Engine; reason: string } | { error: string };

async function trySlicer(config: Config, deps: RegistryDeps): Promise<Attempt> {
  const configured = config.slicerPath;
  const path = configured ? resolveExecutable(configured, deps.env) : deps.discoverSlicer();
  if (!path) {
    return {
      error: configured
        ? `SLICER_PATH=${configured} is not an executable file; point it at Slicer.exe (Windows), Slicer.app/Contents/MacOS/Slicer (macOS) or the Slicer launcher (Linux)`
        : 'no 3D Slicer found in the standard install places; install Slicer 5.6 or later with the TotalSegmentator and SlicerOpenAnatomy extensions, or set SLICER_PATH',
    };
  }
  let version: string;
  try {
    version = await deps.slicerVersion(path);
  } catch (err) {
    return {
      error: `3D Slicer at ${path} does not start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  if (!atLeast(version, MIN_SLICER))
    return { error: `3D Slicer ${version} at ${path} is too old; install Slicer ${MIN_SLICER.join('.')} or later` };
  const engine = createSlicerEngine({
    slicerPath: path,
    timeoutSeconds: config.slicerTimeoutSeconds,
    reduction: config.meshReduction,
    ...engineSettings(config, deps),
  });
  return {
    engine,
    reason: `3D Slicer ${version} at ${path}${configured ? ' (SLICER_PATH)' : ' (found in a standard install place)'}; extensions are checked by the doctor command`,
  };
}

async function tryTotalSegmentator(config: Config, deps: RegistryDeps): Promise<Attempt> {
  const configured = config.totalSegmentatorPath;
  const path = resolveExecutable(configured ?? 'TotalSegmentator', deps.env);
  if (!path) {
    return {
      error: configured
        ? `TOTALSEGMENTATOR_PATH=${configured} is not an executable file`
        : 'TotalSegmentator is not on PATH; install it with "pip install TotalSegmentator" or set TOTALSEGMENTATOR_PATH',
    };
  }
  let version: string;
  try {
    version = await deps.totalSegmentatorVersion(path);
  } catch (err) {
    return {
      error: `TotalSegmentator at ${path} does not run: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  const tooOld = totalSegmentatorTooOld(version);
  if (tooOld) return { error: `${tooOld} (${path})` };
  const settings = engineSettings(config, deps);
  const platform = deps.platform ?? process.platform;
  if (settings.device === 'mps' && platform !== 'darwin') {
    return {
      error: `SEGMENTATION_DEVICE=mps is the GPU of Apple silicon Macs and this is ${platform}; set gpu (CUDA, else the CPU) or cpu`,
    };
  }
  const engine = createTotalSegmentatorEngine({
    executable: path,
    timeoutSeconds: config.slicerTimeoutSeconds,
    version,
    ...settings,
  });
  return {
    engine,
    reason: `TotalSegmentator ${version} at ${path}${configured ? ' (TOTALSEGMENTATOR_PATH)' : ' (PATH)'}`,
  };
}

export async function resolveEngine(
  config: Config,
  logger: Logger,
  deps: RegistryDeps = defaultRegistryDeps,
): Promise<{ engine: Engine; reason: string }> {
  if (config.engine === 'builtin') return { engine: await deps.loadBuiltin(), reason: 'ENGINE=builtin' };
  if (config.engine === 'slicer') {
    const a = await trySlicer(config, deps);
    if ('error' in a)
      throw new EngineUnavailableError(`ENGINE=slicer but ${a.error}. Or set ENGINE=auto to fall back.`);
    return { engine: a.engine, reason: `ENGINE=slicer: ${a.reason}` };
  }
  if (config.engine === 'totalsegmentator') {
    const a = await tryTotalSegmentator(config, deps);
    if ('error' in a)
      throw new EngineUnavailableError(`ENGINE=totalsegmentator but ${a.error}. Or set ENGINE=auto to fall back.`);
    return { engine: a.engine, reason: `ENGINE=totalsegmentator: ${a.reason}` };
  }
  const slicer = await trySlicer(config, deps);
  if (!('error' in slicer)) return { engine: slicer.engine, reason: `ENGINE=auto chose ${slicer.reason}` };
  logger.info({ engine: 'slicer' }, `Slicer engine not used: ${slicer.error}`);
  const ts = await tryTotalSegmentator(config, deps);
  if (!('error' in ts)) return { engine: ts.engine, reason: `ENGINE=auto chose ${ts.reason} (${slicer.error})` };
  // Installed but unusable is worth a warning; not installed at all is the ordinary case.
  if (resolveExecutable(config.totalSegmentatorPath ?? 'TotalSegmentator', deps.env))
    logger.warn({ engine: 'totalsegmentator' }, `TotalSegmentator engine not used: ${ts.error}`);
  else logger.info({ engine: 'totalsegmentator' }, `TotalSegmentator engine not used: ${ts.error}`);
  return {
    engine: await deps.loadBuiltin(),
    reason: `ENGINE=auto chose the built-in engine: ${slicer.error}; ${ts.error}`,
  };
}

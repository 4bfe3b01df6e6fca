import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import type { AppDeps } from '../http/deps.ts';
import type { Engine, EngineResult } from '../engines/engine.ts';
import { EmptySegmentationError, exportModels, type ExportSegment, type SegmentStats } from '../mesh/exportModels.ts';
import { labelStats } from '../mesh/labelStats.ts';
import { prepareMeshThreads } from '../mesh/meshPool.ts';
import { getResult, recordResult, resultIdForJob } from '../results/resultsStore.ts';
import { annotateSegments, writeSegmentNotes, type Annotated } from '../results/segmentNotes.ts';
import type { ReadSeries } from '../seg/segFromSeries.ts';
import { queueRuleExports, writeSegStep } from '../seg/segStep.ts';
import { deleteSeriesInputs, deleteVolumeInput, fileIdentities, type FileIdentity } from '../retention/inputs.ts';
import { VolumeError } from '../volume/errors.ts';
import { readDicomSeries } from '../volume/dicomSeries.ts';
import { writeNifti } from '../volume/nifti.ts';
import { readVolumeFile } from '../volume/readVolume.ts';
import { releaseVoxels } from '../volume/releaseVoxels.ts';
import type { Volume } from '../volume/volume.ts';
import { PermanentError, type TaskHandler, type TaskHelpers, type TaskJob } from './task.ts';

/**
 * Kind `process`: one series or volume file -> canonical NIfTI -> segmentation engine -> glTF
 * models -> label map NIfTI -> a `results` row. Everything is written into a hidden temporary
 * folder under DATA_DIR/results and renamed into place at the end, so a crash never leaves half a
 * result, and a re-run of the same job replaces its result (the result id derives from the job id).
 */

export type ProcessInput =
  | {
      kind: 'dicom-series';
      files: string[];
      studyInstanceUid: string;
      seriesInstanceUid: string;
      seriesDescription?: string;
    }
  | { kind: 'volume-file'; file: string; originalName?: string };

export interface ProcessPayload {
  name: string;
  input: ProcessInput;
}

export interface ProcessTaskOptions {
  /** Picks the engine; by default the registry's choice (ENGINE setting), resolved once. */
  resolveEngine?: () => Promise<{ engine: Engine; reason: string }>;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Checks the payload shape; a malformed payload can never succeed, so it fails permanently. */
export function parseProcessPayload(payload: unknown): ProcessPayload {
  const bad = (why: string): never => {
    throw new PermanentError(`invalid process job payload: ${why}`);
  };
  if (typeof payload !== 'object' || payload === null) return bad('not an object');
  const p = payload as Record<string, unknown>;
  if (!isString(p.name)) return bad('"name" must be a non-empty string');
  const input = p.input;
  if (typeof input !== 'object' || input === null) return bad('"input" is missing');
  const i = input as Record<string, unknown>;
  if (i.kind === 'dicom-series') {
    if (!Array.isArray(i.files) || i.files.length === 0 || !i.files.every(isString))
      return bad('"input.files" must list the DICOM files');
    if (!isString(i.studyInstanceUid) || !isString(i.seriesInstanceUid))
      return bad('"input" needs studyInstanceUid and seriesInstanceUid');
    const out: ProcessInput = {
      kind: 'dicom-series',
      files: i.files,
      studyInstanceUid: i.studyInstanceUid,
      seriesInstanceUid: i.seriesInstanceUid,
    };
    if (isString(i.seriesDescription)) out.seriesDescription = i.seriesDescription;
    return { name: p.name, input: out };
  }
  if (i.kind === 'volume-file') {
    if (!isString(i.file)) return bad('"input.file" must name the volume file');
    const out: ProcessInput = { kind: 'volume-file', file: i.file };
    if (isString(i.originalName)) out.originalName = i.originalName;
    return { name: p.name, input: out };
  }
  return bad(`unknown input kind ${JSON.stringify(i.kind)}`);
}

/** A name safe for file names on every OS; never empty. */
export function safeFileName(name: string): string {
  const cleaned = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '')
    .slice(0, 80);
  return cleaned || 'series';
}

/** A path from the payload, relative to DATA_DIR; refuses anything that points outside it. */
function inDataDir(dataDir: string, rel: string): string {
  const full = resolve(dataDir, rel);
  const back = relative(dataDir, full);
  if (isAbsolute(rel) || back.startsWith('..') || isAbsolute(back)) {
    throw new PermanentError('an input file path points outside DATA_DIR; the job was not created by this server');
  }
  return full;
}

function sourceOf(input: ProcessInput): Record<string, unknown> {
  if (input.kind === 'dicom-series') {
    const s: Record<string, unknown> = {
      kind: input.kind,
      studyInstanceUid: input.studyInstanceUid,
      seriesInstanceUid: input.seriesInstanceUid,
      instances: input.files.length,
    };
    if (input.seriesDescription) s.seriesDescription = input.seriesDescription;
    return s;
  }
  const s: Record<string, unknown> = { kind: input.kind, file: input.file };
  if (input.originalName) s.originalName = input.originalName;
  return s;
}

/** The input as a volume; for a DICOM series also its grid and UIDs, which its DICOM SEG refers to. */
async function readInput(
  dataDir: string,
  input: ProcessInput,
  helpers: TaskHelpers,
): Promise<{ volume: Volume; series?: ReadSeries }> {
  try {
    if (input.kind === 'dicom-series') {
      const result = await readDicomSeries(
        input.files.map((f) => inDataDir(dataDir, f)),
        { signal: helpers.signal },
      );
      for (const w of result.warnings) helpers.log(`warning: ${w}`);
      const { dims, spacing, origin, direction } = result.volume;
      return { volume: result.volume, series: { grid: { dims, spacing, origin, direction }, meta: result.meta } };
    }
    return { volume: await readVolumeFile(inDataDir(dataDir, input.file)) };
  } catch (err) {
    if (err instanceof VolumeError) throw new PermanentError(err.message, { cause: err });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PermanentError(
        'an input file of this job no longer exists in DATA_DIR (removed by retention or by hand)',
        { cause: err },
      );
    }
    throw err;
  }
}

function inputPaths(dataDir: string, input: ProcessInput): string[] {
  return input.kind === 'dicom-series'
    ? input.files.map((f) => inDataDir(dataDir, f))
    : [inDataDir(dataDir, input.file)];
}

/**
 * Inputs go once the result is recorded (KEEP_INPUTS keeps them). A failure here does not fail the job:
 * its result stands, and a leftover input is only disk space.
 */
async function deleteInputs(
  deps: AppDeps,
  jobId: string,
  input: ProcessInput,
  read: ReadonlyMap<string, FileIdentity>,
  helpers: TaskHelpers,
): Promise<void> {
  try {
    if (input.kind === 'dicom-series') {
      const d = await deleteSeriesInputs(deps, jobId, input.files, read);
      helpers.log(
        `inputs deleted: ${d.files} DICOM file(s), ${d.indexRows} index row(s)${d.keptNewer ? `; ${d.keptNewer} kept (sent again meanwhile)` : ''}`,
      );
      deps.logger.info(
        { jobId, files: d.files, indexRows: d.indexRows, keptNewer: d.keptNewer },
        'inputs deleted after processing',
      );
    } else {
      const removed = await deleteVolumeInput(inDataDir(deps.config.dataDir, input.file));
      helpers.log(`inputs deleted: ${removed ? 1 : 0} volume file`);
      deps.logger.info({ jobId, files: removed ? 1 : 0 }, 'inputs deleted after processing');
    }
  } catch (err) {
    helpers.log('warning: the inputs could not all be deleted; they stay until removed by hand');
    deps.logger.warn({ jobId, err: (err as Error).message }, 'deleting inputs after processing failed');
  }
}

/** Folders an earlier attempt of this job left when its process died; only the lease holder gets here. */
async function removeEarlierAttempts(dir: string, prefix: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) await rm(join(dir, n), { recursive: true, force: true });
}

/** Statistics of an engine's own glTF: the label map gives voxel counts; triangles are not re-counted. */
function voxelStats(result: EngineResult): SegmentStats[] {
  const stats = labelStats(result.labelMap);
  const [sx, sy, sz] = result.labelMap.spacing;
  const voxelMl = (sx * sy * sz) / 1000;
  return result.segments
    .filter((s) => stats.has(s.label))
    .map((s) => {
      const st = stats.get(s.label);
      const voxels = st?.voxels ?? 0;
      return {
        label: s.label,
        name: s.name,
        color: s.color,
        colorHex: `#${s.color
          .map((c) =>
            Math.round(c * 255)
              .toString(16)
              .padStart(2, '0'),
          )
          .join('')}`,
        opacity: s.opacity ?? 1,
        voxels,
        volumeMl: Math.round(voxels * voxelMl * 1000) / 1000,
        meshVolumeMl: 0,
        triangles: 0,
        bounds: { min: [0, 0, 0], max: [0, 0, 0] },
        ...(s.totalSegmentatorId === undefined ? {} : { totalSegmentatorId: s.totalSegmentatorId }),
      };
    });
}

/** Moves `from` to `to`, replacing an older folder there without a moment where neither exists half-written. */
async function replaceDir(from: string, to: string): Promise<void> {
  const old = `${to}.old-${randomBytes(4).toString('hex')}`;
  let moved = false;
  try {
    await rename(to, old);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await rename(from, to);
  if (moved) await rm(old, { recursive: true, force: true });
}

export function createProcessTask(deps: AppDeps, options: ProcessTaskOptions = {}): TaskHandler<ProcessPayload> {
  let engineChoice: Promise<{ engine: Engine; reason: string }> | undefined;
  const pickEngine = (): Promise<{ engine: Engine; reason: string }> => {
    if (!engineChoice) {
      engineChoice = options.resolveEngine
        ? options.resolveEngine()
        : import('../engines/registry.ts').then((m) => m.resolveEngine(deps.config, deps.logger));
      // A failed resolution is retried by the next job rather than cached forever.
      engineChoice.catch(() => {
        engineChoice = undefined;
      });
    }
    return engineChoice;
  };

  return async (job: TaskJob<ProcessPayload>, helpers: TaskHelpers): Promise<void> => {
    const { config } = deps;
    const payload = parseProcessPayload(job.payload);
    const name = safeFileName(payload.name);
    const resultId = resultIdForJob(job.id);
    const resultsDir = join(config.dataDir, 'results');
    const finalDir = join(resultsDir, resultId);
    const tmpDir = join(resultsDir, `.tmp-${resultId}-${randomBytes(4).toString('hex')}`);
    const workDir = join(config.dataDir, 'work', `${job.id}-${randomBytes(4).toString('hex')}`);
    const stage = async (pct: number, status: string): Promise<void> => {
      helpers.signal.throwIfAborted();
      await helpers.progress(Math.round(pct), status);
    };

    await removeEarlierAttempts(resultsDir, `.tmp-${resultId}-`);
    await removeEarlierAttempts(join(config.dataDir, 'work'), `${job.id}-`);
    await mkdir(tmpDir, { recursive: true });
    await mkdir(workDir, { recursive: true });
    try {
      await stage(
        2,
        payload.input.kind === 'dicom-series'
          ? `reading ${payload.input.files.length} DICOM images`
          : 'reading the volume file',
      );
      const readIdentities = await fileIdentities(inputPaths(config.dataDir, payload.input));
      // Mesh threads for a scan this big start now and warm up while it is read (unused, they end
      // after a minute). Voxels take 2 bytes, or fewer compressed: the guess errs towards fewer.
      prepareMeshThreads([...readIdentities.values()].reduce((sum, f) => sum + f.size, 0) / 2);
      let volume: Volume | undefined;
      let series: ReadSeries | undefined;
      try {
        ({ volume, series } = await readInput(config.dataDir, payload.input, helpers));
      } catch (err) {
        // A crash after the result was recorded and the inputs deleted, but before the job was marked done.
        const gone = (err as { cause?: { code?: unknown } }).cause?.code === 'ENOENT';
        if (gone && (await getResult(helpers.db, resultId))) {
          helpers.log('the result of this job was already recorded and its inputs deleted; nothing left to do');
          await helpers.progress(100, 'done (recorded by an earlier attempt)');
          return;
        }
        throw err;
      }
      helpers.log(
        `volume ${volume.dims.join('x')} voxels, ${volume.spacing.map((s) => s.toFixed(2)).join(' x ')} mm${volume.modality ? `, ${volume.modality}` : ''}`,
      );

      await stage(8, 'writing the input volume as NIfTI');
      const niftiPath = join(tmpDir, `${name}.nii.gz`);
      // gzip level 1: a CT's noise keeps higher levels within 2% of its size (157 MB -> 79.7 MB at 1,
      // 77.9 MB at 3) for 28% more time (2.75 s against 3.5 s at 512x512x300), on every job.
      await writeNifti(niftiPath, volume, { level: 1 });

      await stage(12, 'choosing the segmentation engine');
      const { engine, reason } = await pickEngine();
      helpers.log(`engine: ${engine.name} (${reason})`);
      await helpers.setEngine(engine.name);

      const engineResult = await engine.run(
        { volume, niftiPath, name },
        {
          jobId: job.id,
          workDir,
          signal: helpers.signal,
          progress: (pct, status) => stage(15 + (Math.min(100, Math.max(0, pct)) * 55) / 100, status),
          log: (line) => helpers.log(line),
        },
      );
      // The image itself is not needed any more: freed before the meshing (157 MB at 512x512x300).
      await releaseVoxels(volume);
      volume = undefined;
      for (const [tool, version] of Object.entries(engineResult.versions ?? {})) helpers.log(`${tool} ${version}`);

      let segments: Array<Annotated<SegmentStats>>;
      if (engineResult.gltfPath) {
        await stage(72, "taking the engine's glTF");
        await copyFile(engineResult.gltfPath, join(tmpDir, `${name}.gltf`));
        const io = new NodeIO();
        const doc = await io.read(engineResult.gltfPath);
        await writeFile(join(tmpDir, `${name}.glb`), await io.writeBinary(doc));
        segments = voxelStats(engineResult);
        await writeFile(join(tmpDir, `${name}_segments.json`), `${JSON.stringify({ name, segments }, null, 2)}\n`);
      } else {
        const exported = await exportModels({
          labelMap: engineResult.labelMap,
          segments: engineResult.segments as ExportSegment[],
          outDir: tmpDir,
          name,
          reduction: config.meshReduction,
          signal: helpers.signal,
          onProgress: (f, status) => stage(70 + f * 22, status),
        });
        segments = exported.segments;
      }
      // The engine's quality notes and algorithm per segment go into the result, its JSON and the SEG.
      segments = annotateSegments(segments, engineResult.segments);
      await writeSegmentNotes(join(tmpDir, `${name}_segments.json`), segments);
      helpers.log(
        `${segments.length} structures: ${segments.map((s) => `${s.name} ${s.volumeMl.toFixed(1)} mL`).join(', ')}`,
      );

      await stage(93, 'writing the label map as NIfTI');
      await writeNifti(join(tmpDir, `${name}_seg.nii.gz`), engineResult.labelMap);
      if (payload.input.kind === 'dicom-series') {
        await stage(95, 'writing the DICOM SEG');
        const input = payload.input;
        await writeSegStep({
          files: input.files.map((f) => inDataDir(config.dataDir, f)),
          labelMap: engineResult.labelMap,
          segments,
          engine: engine.name,
          seriesDescription: input.seriesDescription,
          outFile: join(tmpDir, `${name}_seg.dcm`),
          helpers,
          series,
        });
      }

      // Nothing reads the label map any more: freed now (78 MB at 512x512x300), not at some later collection.
      await releaseVoxels(engineResult.labelMap);
      await stage(97, 'recording the result');
      const files: Array<{ name: string; size: number }> = [];
      for (const f of (await readdir(tmpDir)).sort()) files.push({ name: f, size: (await stat(join(tmpDir, f))).size });
      await replaceDir(tmpDir, finalDir);
      await recordResult(helpers.db, {
        id: resultId,
        jobId: job.id,
        name,
        engine: engine.name,
        source: sourceOf(payload.input),
        segments,
        files,
        retentionDays: config.resultRetentionDays,
      });
      if (payload.input.kind === 'dicom-series')
        await queueRuleExports(deps, resultId, payload.input.seriesInstanceUid, files, helpers.log);
      deps.events.emit({ type: 'result', resultId, jobId: job.id });
      if (!config.keepInputs) await deleteInputs(deps, job.id, payload.input, readIdentities, helpers);
      await helpers.progress(100, `done: ${segments.length} structures`);
    } catch (err) {
      if (err instanceof EmptySegmentationError) {
        throw new PermanentError(
          'The segmentation found no structure in this image (is it a CT or MR of the body?), so there is no 3D model to make.',
          { cause: err },
        );
      }
      throw err;
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
      await rm(workDir, { recursive: true, force: true });
    }
  };
}

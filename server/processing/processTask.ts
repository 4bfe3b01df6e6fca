import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { PermanentError } from '../errors.ts';
import type { ChosenEngine } from '../engines/engine.ts';
import type { Events } from '../events.ts';
import type { ProcessInput, ProcessPayload } from '../jobs/kinds.ts';
import type { Queue } from '../jobs/queue.ts';
import type { TaskHandler, TaskHelpers } from '../jobs/task.ts';
import type { Logger } from '../log.ts';
import { EmptySegmentationError, SMOOTHING_ITERATIONS } from '../mesh/exportModels.ts';
import { prepareMeshThreads } from '../mesh/meshPool.ts';
import { StartedMeshes } from '../mesh/startedMeshes.ts';
import { queueRuleExports } from '../results/exportRules.ts';
import { safeFileName } from '../results/names.ts';
import { getResult } from '../results/readResults.ts';
import { recordResult, resultIdForJob } from '../results/resultsStore.ts';
import { seriesSubjects, seriesWithGeneratedUids } from '../dicomIndex/seriesSubjects.ts';
import { deleteSeriesInputs, deleteVolumeInput, inputBytes, inputIdentities } from '../retention/inputs.ts';
import type { ReadSeries } from '../seg/segFromSeries.ts';
import { writeSegStep } from '../seg/segStep.ts';
import type { Storage } from '../storage/storage.ts';
import { writeNifti } from '../volume/niftiWrite.ts';
import { releaseVoxels } from '../volume/releaseVoxels.ts';
import type { Volume } from '../volume/volume.ts';
import { writeModels } from './models.ts';
import { annotateSegments, writeSegmentNotes } from './segmentNotes.ts';
import { inputKeys, parseProcessPayload, sourceOf } from './processPayload.ts';
import { readInput } from './readInput.ts';

/**
 * Kind `process`: one series or volume file -> canonical NIfTI -> segmentation engine -> glTF models -> label map
 * NIfTI -> DICOM SEG -> a `results` row. Everything is written into a staged result (storage) that becomes the
 * result as a whole at the end, so a crash never leaves half a result, and a re-run of the same job replaces its
 * result (the result id derives from the job id).
 */

export interface ProcessDeps {
  config: Pick<Config, 'meshReduction' | 'resultRetentionDays' | 'keepInputs' | 'pacsNodes'>;
  db: Database;
  logger: Logger;
  queue: Queue;
  events: Events;
  storage: Storage;
}

/**
 * Inputs go once the result is recorded (KEEP_INPUTS keeps them). A failure here does not fail the job: its result
 * stands, and a leftover input is only disk space.
 */
async function deleteInputs(
  deps: ProcessDeps,
  jobId: string,
  input: ProcessInput,
  read: ReadonlyMap<string, string>,
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
      const removed = await deleteVolumeInput(deps.storage, input.file);
      helpers.log(`inputs deleted: ${removed ? 1 : 0} volume file`);
      deps.logger.info({ jobId, files: removed ? 1 : 0 }, 'inputs deleted after processing');
    }
  } catch (err) {
    helpers.log('warning: the inputs could not all be deleted; they stay until removed by hand');
    deps.logger.warn({ jobId, err: (err as Error).message }, 'deleting inputs after processing failed');
  }
}

export function createProcessTask(deps: ProcessDeps, chosen: ChosenEngine): TaskHandler<ProcessPayload> {
  return async (job, helpers) => {
    const { config, storage } = deps;
    const payload = parseProcessPayload(job.payload);
    const keys = inputKeys(payload.input);
    const name = safeFileName(payload.name);
    const resultId = resultIdForJob(job.id);
    const stage = async (pct: number, status: string): Promise<void> => {
      helpers.signal.throwIfAborted();
      await helpers.progress(Math.round(pct), status);
    };

    const staged = await storage.stageResult(resultId);
    const workDir = await storage.scratch(job.id);
    const started = new StartedMeshes(
      { reduction: config.meshReduction, smoothingIterations: SMOOTHING_ITERATIONS },
      { signal: helpers.signal },
    );
    const outDir = staged.dir;
    try {
      await stage(
        2,
        payload.input.kind === 'dicom-series'
          ? `reading ${payload.input.files.length} DICOM images`
          : 'reading the volume file',
      );
      const readIdentities = await inputIdentities(storage, keys);
      // Mesh threads for a scan this big start now and warm up while it is read (unused, they end
      // after a minute). Voxels take 2 bytes, or fewer compressed: the guess errs towards fewer.
      prepareMeshThreads((await inputBytes(storage, keys)) / 2);
      let volume: Volume | undefined;
      let series: ReadSeries | undefined;
      try {
        ({ volume, series } = await readInput(storage, payload.input, helpers));
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
      const niftiPath = join(outDir, `${name}.nii.gz`);
      // gzip level 1: a CT's noise keeps higher levels within 2% of the size, for more time on every job.
      await writeNifti(niftiPath, volume, { level: 1 });

      const { engine, reason } = chosen;
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
          startMeshing: (labelMap, segment) => started.start(labelMap, segment),
        },
      );
      // The image itself is not needed any more: freed before the meshing.
      await releaseVoxels(volume);
      volume = undefined;
      for (const [tool, version] of Object.entries(engineResult.versions ?? {})) helpers.log(`${tool} ${version}`);

      // The engine's quality notes and algorithm per segment go into the result, its JSON and the SEG.
      const segments = annotateSegments(
        await writeModels({
          engineResult,
          outDir,
          name,
          reduction: config.meshReduction,
          signal: helpers.signal,
          stage,
          started,
        }),
        engineResult.segments,
      );
      const nameOf = (label: number): string =>
        engineResult.segments.find((s) => s.label === label)?.name ?? `label ${label}`;
      if (started.used.length > 0)
        helpers.log(`meshed while the engine was still segmenting: ${started.used.map(nameOf).join(', ')}`);
      if (started.changed.length > 0)
        helpers.log(
          `warning: the engine changed ${started.changed.map(nameOf).join(', ')} after saying it was final; meshed again from the finished label map`,
        );
      await writeSegmentNotes(join(outDir, `${name}_segments.json`), segments);
      helpers.log(
        `${segments.length} structures: ${segments.map((s) => `${s.name} ${s.volumeMl.toFixed(1)} mL`).join(', ')}`,
      );

      await stage(93, 'writing the label map as NIfTI');
      await writeNifti(join(outDir, `${name}_seg.nii.gz`), engineResult.labelMap);
      if (payload.input.kind === 'dicom-series') {
        await stage(95, 'writing the DICOM SEG');
        const input = payload.input;
        await writeSegStep({
          files: keys.map((key) => storage.localPath(key)),
          labelMap: engineResult.labelMap,
          segments,
          engine: engine.name,
          seriesDescription: input.seriesDescription,
          outFile: join(outDir, `${name}_seg.dcm`),
          helpers,
          series,
        });
      }

      // Nothing reads the label map any more: freed now, not at some later collection.
      await releaseVoxels(engineResult.labelMap);
      await stage(97, 'recording the result');
      const files = await staged.commit();
      // Whose scan it is, copied now: the index rows of the inputs may be deleted below.
      const seriesUid = payload.input.kind === 'dicom-series' ? payload.input.seriesInstanceUid : undefined;
      const subject = seriesUid ? ((await seriesSubjects(helpers.db, [seriesUid])).get(seriesUid) ?? null) : null;
      const source = sourceOf(payload.input);
      if (seriesUid && (await seriesWithGeneratedUids(helpers.db, [seriesUid])).has(seriesUid)) {
        source.uidsGenerated = true;
        helpers.log("the series' Study, Series and SOP Instance UIDs were blank: generated from the files' content");
      }
      await recordResult(helpers.db, {
        subject,
        id: resultId,
        jobId: job.id,
        name,
        engine: engine.name,
        source,
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
      await started.close();
      await staged.discard();
      await rm(workDir, { recursive: true, force: true });
    }
  };
}

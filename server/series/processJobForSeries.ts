import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import {
  lockSeriesForGrouping,
  markSeriesProcessed,
  markSeriesSkipped,
  volumeImagesOfSeries,
} from '../dicomIndex/seriesGrouping.ts';
import {
  recordSeriesDigest,
  seriesImagesForDigest,
  standingJobWithDigest,
  transactionTime,
} from '../dicomIndex/seriesDigests.ts';
import type { ProcessPayload } from '../jobs/kinds.ts';
import type { Queue } from '../jobs/queue.ts';
import { safeBaseName } from '../results/names.ts';
import { deleteResentInputs, inputIdentities } from '../retention/inputs.ts';
import type { Storage } from '../storage/storage.ts';
import { digestSeriesImages } from './seriesDigest.ts';

export interface GroupingDeps {
  config: Pick<Config, 'keepInputs'>;
  db: Database;
  queue: Queue;
  storage: Storage;
}

export type SeriesStableOutcome =
  { created: true; jobId: string; files: number } | { created: false; reason: string; resentDeleted?: number };

interface Unchanged {
  jobId: string;
  reason: string;
  /** Re-sent instances to delete after the transaction, as indexed by `cutoff` (their earlier job deleted its own). */
  deleteResent?: { paths: string[]; cutoff: string };
}

/**
 * Turns a quiet series into a `process` job, unless nothing changed since the last one, the series was sent again
 * with the very images of a job whose result stands, or it has nothing a volume can be built from. Decides in one
 * transaction with the series row locked, so an instance arriving meanwhile waits and then re-arms the timer for a
 * follow-up job. The images' digest is made before, outside the lock, and used only if the series did not change.
 */
export async function createProcessJobForSeries(
  deps: GroupingDeps,
  seriesInstanceUid: string,
): Promise<SeriesStableOutcome> {
  const before = await seriesImagesForDigest(deps.db, seriesInstanceUid);
  const identities = before ? await inputIdentities(deps.storage, before.paths) : new Map<string, string>();
  // An image that cannot be read leaves no digest: the job is made, and its reader says what is missing.
  const digest =
    before && before.paths.length > 0
      ? await digestSeriesImages(deps.storage, before.paths).catch(() => undefined)
      : undefined;
  let unchanged: Unchanged | undefined;
  const outcome = await deps.db.transaction(async (tx): Promise<SeriesStableOutcome> => {
    const s = await lockSeriesForGrouping(tx, seriesInstanceUid);
    if (!s) return { created: false, reason: 'the series is no longer stored' };
    if (s.revision === s.processedRevision) return { created: false, reason: 'no new instances since the last job' };
    const sameDigest = digest !== undefined && before?.revision === s.revision ? digest : undefined;
    const standing = sameDigest ? await standingJobWithDigest(tx, seriesInstanceUid, sameDigest) : undefined;
    if (standing && before) {
      const reason = `the series was sent again unchanged: job ${standing.jobId} (${standing.state}) was made from the same images`;
      await markSeriesSkipped(tx, seriesInstanceUid, reason);
      unchanged = { jobId: standing.jobId, reason };
      // A finished job deleted its own inputs (unless KEEP_INPUTS): the copies sent again go the same way.
      if (standing.state === 'succeeded' && !deps.config.keepInputs)
        unchanged.deleteResent = { paths: before.paths, cutoff: await transactionTime(tx) };
      return { created: false, reason };
    }
    const files = await volumeImagesOfSeries(tx, seriesInstanceUid);
    let skipped: string | undefined;
    if (files.length === 0)
      skipped = 'the series holds no CT/MR/PET/NM image instances (e.g. SR, SEG, RTSTRUCT, secondary capture)';
    else if (files.every((r) => r.imageType.includes('LOCALIZER')))
      skipped = 'the series holds only localizer (scout) images';
    if (skipped) {
      await markSeriesSkipped(tx, seriesInstanceUid, skipped);
      return { created: false, reason: skipped };
    }
    const label = [
      s.modality,
      s.seriesDescription ?? (s.seriesNumber !== null ? `series ${s.seriesNumber}` : undefined),
    ]
      .filter(Boolean)
      .join(' ');
    const payload: ProcessPayload = {
      name: safeBaseName(label, s.seriesUid),
      input: {
        kind: 'dicom-series',
        files: files.map((r) => r.path),
        studyInstanceUid: s.studyUid,
        seriesInstanceUid: s.seriesUid,
        ...(s.seriesDescription ? { seriesDescription: s.seriesDescription } : {}),
      },
    };
    const job = await deps.queue.add('process', payload, {}, tx);
    await markSeriesProcessed(tx, seriesInstanceUid, job.id);
    if (sameDigest) await recordSeriesDigest(tx, seriesInstanceUid, sameDigest, job.id);
    return { created: true, jobId: job.id, files: files.length };
  });
  if (unchanged?.deleteResent) {
    const { paths, cutoff } = unchanged.deleteResent;
    const deleted = await deleteResentInputs(deps, paths, cutoff, identities);
    return { created: false, reason: unchanged.reason, resentDeleted: deleted.files };
  }
  return outcome;
}

import type { Database } from '../db/database.ts';
import {
  lockSeriesForGrouping,
  markSeriesProcessed,
  markSeriesSkipped,
  volumeImagesOfSeries,
} from '../dicomIndex/seriesGrouping.ts';
import type { ProcessPayload } from '../jobs/kinds.ts';
import type { Queue } from '../jobs/queue.ts';
import { safeBaseName } from '../results/names.ts';

export type SeriesStableOutcome = { created: true; jobId: string; files: number } | { created: false; reason: string };

/**
 * Turns a quiet series into a `process` job, unless nothing changed since the last one or the series has nothing a
 * volume can be built from. Runs in one transaction with the series row locked, so an instance arriving meanwhile
 * waits and then re-arms the timer for a follow-up job.
 */
export async function createProcessJobForSeries(
  deps: { db: Database; queue: Queue },
  seriesInstanceUid: string,
): Promise<SeriesStableOutcome> {
  return await deps.db.transaction(async (tx) => {
    const s = await lockSeriesForGrouping(tx, seriesInstanceUid);
    if (!s) return { created: false, reason: 'the series is no longer stored' };
    if (s.revision === s.processedRevision) return { created: false, reason: 'no new instances since the last job' };
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
    return { created: true, jobId: job.id, files: files.length };
  });
}

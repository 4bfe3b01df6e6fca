import type { Queryable } from '../db/database.ts';
import type { AppDeps } from '../http/deps.ts';
import type { TaskHandler } from '../jobs/task.ts';
import { PermanentError } from '../jobs/task.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { unfinishedRetrieveOf } from '../pacs/retrieveGate.ts';

/**
 * Series grouping. Neither DIMSE nor DICOMweb says when a series is complete, so, as Orthanc's StableAge
 * and MONAI's grouping timeout do, a series is taken as complete after SERIES_STABLE_SECONDS without a
 * new instance. The timer is a debounced job in the queue (one queued `series-stable` job per series,
 * pushed later by each instance), so it survives restarts and works with several server processes.
 */

export const SERIES_STABLE_KIND = 'series-stable';
export const PROCESS_KIND = 'process';

export interface SeriesStablePayload {
  seriesInstanceUid: string;
}

/** The `process` job contract shared with the processing task. */
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

export function seriesStableKey(seriesInstanceUid: string): string {
  return `${SERIES_STABLE_KIND}:${seriesInstanceUid}`;
}

export async function scheduleSeriesStable(
  deps: Pick<AppDeps, 'config' | 'queue'>,
  seriesInstanceUid: string,
  tx?: Queryable,
  delaySeconds = deps.config.seriesStableSeconds,
  slackMs = 0,
): Promise<void> {
  const runAfter = new Date(Date.now() + delaySeconds * 1000 + slackMs);
  await deps.queue.add<SeriesStablePayload>(
    SERIES_STABLE_KIND,
    { seriesInstanceUid },
    { key: seriesStableKey(seriesInstanceUid), runAfter, maxAttempts: 5 },
    tx,
  );
}

/**
 * Pushing a series' quiet-period timer is a write to the queue (and a notification) per instance,
 * a third of the index's work for a C-STORE sender that waits for each instance. So ingest pushes
 * it at most once per `slackMs` per series, each push setting it `slackMs` further out than the
 * quiet period: an instance that skips its push came less than `slackMs` after one, so the job
 * still runs no sooner than SERIES_STABLE_SECONDS after it, and at most `slackMs` later than it
 * would have. Per process: another process ingesting the same series pushes on its own schedule,
 * and every push only moves the timer later.
 */
export class SeriesStablePushes {
  readonly slackMs: number;
  readonly #lastPush = new Map<string, number>();

  constructor(stableSeconds: number) {
    // A tenth of the quiet period, at most a second: 10 s gives jobs 10-11 s after the last instance.
    this.slackMs = Math.min(1000, (stableSeconds * 1000) / 10);
  }

  /** The series of a batch whose timer must be pushed in its transaction. */
  due(seriesUids: Iterable<string>, now = performance.now()): string[] {
    const out: string[] = [];
    for (const uid of seriesUids) {
      const last = this.#lastPush.get(uid);
      if (this.slackMs <= 0 || last === undefined || now - last >= this.slackMs) out.push(uid);
    }
    return out;
  }

  /** Records pushes once their transaction has committed (`at`: when they were computed). */
  pushed(seriesUids: Iterable<string>, at: number): void {
    if (this.slackMs <= 0) return;
    if (this.#lastPush.size > 10_000) {
      for (const [uid, t] of this.#lastPush) if (at - t >= this.slackMs) this.#lastPush.delete(uid);
    }
    for (const uid of seriesUids) this.#lastPush.set(uid, at);
  }
}

/** A file/job name people recognise ("CT_Abdomen_3mm-1a2b3c4d"), safe on every file system. */
export function safeBaseName(label: string | undefined, uniqueHint: string): string {
  const cleaned = (label ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, 60);
  const hint = uniqueHint.replace(/[^A-Za-z0-9]/g, '').slice(-8) || 'x';
  return `${cleaned || 'series'}-${hint}`;
}

interface SeriesRow {
  series_uid: string;
  study_uid: string;
  modality: string | null;
  series_description: string | null;
  series_number: number | null;
  revision: number;
  processed_revision: number;
}

export type SeriesStableOutcome = { created: true; jobId: string; files: number } | { created: false; reason: string };

/**
 * Turns a quiet series into a `process` job, unless nothing changed since the last one or the series has
 * nothing a volume can be built from. Runs in one transaction with the series row locked, so an instance
 * arriving meanwhile waits and then re-arms the timer for a follow-up job.
 */
export async function createProcessJobForSeries(
  deps: Pick<AppDeps, 'db' | 'queue'>,
  seriesInstanceUid: string,
): Promise<SeriesStableOutcome> {
  return await deps.db.transaction(async (tx) => {
    const s = (
      await tx.query<SeriesRow>(
        `SELECT series_uid, study_uid, modality, series_description, series_number, revision, processed_revision
         FROM dicom_series WHERE series_uid = $1 FOR UPDATE`,
        [seriesInstanceUid],
      )
    ).rows[0];
    if (!s) return { created: false, reason: 'the series is no longer stored' };
    if (s.revision === s.processed_revision) return { created: false, reason: 'no new instances since the last job' };
    const files = await tx.query<{ path: string; image_type: string[] }>(
      `SELECT path, image_type FROM dicom_instances WHERE series_uid = $1 AND volume_image
        ORDER BY instance_number NULLS LAST, sop_instance_uid`,
      [seriesInstanceUid],
    );
    let skipped: string | undefined;
    if (files.rows.length === 0)
      skipped = 'the series holds no CT/MR/PET/NM image instances (e.g. SR, SEG, RTSTRUCT, secondary capture)';
    else if (files.rows.every((r) => r.image_type.includes('LOCALIZER')))
      skipped = 'the series holds only localizer (scout) images';
    if (skipped) {
      await tx.query(
        'UPDATE dicom_series SET processed_revision = revision, skipped_reason = $2 WHERE series_uid = $1',
        [seriesInstanceUid, skipped],
      );
      return { created: false, reason: skipped };
    }
    const label = [
      s.modality,
      s.series_description ?? (s.series_number !== null ? `series ${s.series_number}` : undefined),
    ]
      .filter(Boolean)
      .join(' ');
    const payload: ProcessPayload = {
      name: safeBaseName(label, s.series_uid),
      input: {
        kind: 'dicom-series',
        files: files.rows.map((r) => r.path),
        studyInstanceUid: s.study_uid,
        seriesInstanceUid: s.series_uid,
        ...(s.series_description ? { seriesDescription: s.series_description } : {}),
      },
    };
    const job = await deps.queue.add(PROCESS_KIND, payload, {}, tx);
    await tx.query(
      'UPDATE dicom_series SET processed_revision = revision, last_process_job_id = $2, skipped_reason = NULL WHERE series_uid = $1',
      [seriesInstanceUid, job.id],
    );
    return { created: true, jobId: job.id, files: files.rows.length };
  });
}

export function seriesStableTask(deps: AppDeps): TaskHandler<SeriesStablePayload> {
  return async (job, helpers) => {
    const uid = job.payload.seriesInstanceUid;
    if (!isUsableUid(uid)) throw new PermanentError('series-stable job without a valid seriesInstanceUid');
    // A quiet series may only be a slow PACS retrieve between two instances: wait for the retrieve.
    const retrieve = await unfinishedRetrieveOf(deps.db, uid);
    if (retrieve) {
      // At least a second apart, so SERIES_STABLE_SECONDS=0 does not spin the queue while it waits.
      const again = Math.max(1, deps.config.seriesStableSeconds);
      await scheduleSeriesStable(deps, uid, undefined, again);
      helpers.log(
        `series ${uid}: PACS retrieve job ${retrieve} is still bringing instances in; checking again in ${again} s`,
      );
      return;
    }
    const outcome = await createProcessJobForSeries(deps, uid);
    if (outcome.created) {
      helpers.log(
        `series ${uid}: ${outcome.files} image(s) quiet for ${deps.config.seriesStableSeconds} s; process job ${outcome.jobId} created`,
      );
    } else {
      helpers.log(`series ${uid}: no job created: ${outcome.reason}`);
    }
  };
}

import { isUsableUid } from '../dicom/uid.ts';
import { unfinishedRetrieveOf } from './pendingRetrieve.ts';
import { createProcessJobForSeries, type GroupingDeps } from './processJobForSeries.ts';

export interface QueuedNow {
  seriesInstanceUid: string;
  /** The process job made for the series now. */
  jobId?: string;
  /** Why no job was made now (the quiet-period timer stays armed where it still applies). */
  reason?: string;
}

/**
 * A sender that knows it has sent the whole series (the upload page, once every file of a batch is answered) needs
 * no quiet period: the series becomes a process job now, by the same rules as when its quiet period ends. The
 * queued timer stays: a follow-up instance from another sender still re-arms it, and otherwise it finds nothing
 * new. A series a PACS retrieve is still bringing in waits for the retrieve, as the timer would.
 */
export async function queueSeriesNow(deps: GroupingDeps, seriesInstanceUid: string): Promise<QueuedNow> {
  if (!isUsableUid(seriesInstanceUid)) return { seriesInstanceUid, reason: 'not a valid Series Instance UID' };
  const retrieve = await unfinishedRetrieveOf(deps.db, seriesInstanceUid);
  if (retrieve)
    return {
      seriesInstanceUid,
      reason: `PACS retrieve job ${retrieve} is still bringing instances in; the series is queued when it ends`,
    };
  const outcome = await createProcessJobForSeries(deps, seriesInstanceUid);
  return outcome.created ? { seriesInstanceUid, jobId: outcome.jobId } : { seriesInstanceUid, reason: outcome.reason };
}

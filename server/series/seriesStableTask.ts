import type { Config } from '../config/config.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { PermanentError } from '../errors.ts';
import type { SeriesStablePayload } from '../jobs/kinds.ts';
import type { TaskHandler } from '../jobs/task.ts';
import { unfinishedRetrieveOf } from './pendingRetrieve.ts';
import { createProcessJobForSeries, type GroupingDeps } from './processJobForSeries.ts';
import { scheduleSeriesStable } from './seriesStableTimer.ts';

export interface SeriesStableDeps extends GroupingDeps {
  config: Pick<Config, 'seriesStableSeconds' | 'keepInputs'>;
}

/** Kind `series-stable`: a series' quiet period has passed. */
export function seriesStableTask(deps: SeriesStableDeps): TaskHandler<SeriesStablePayload> {
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
      const deleted = outcome.resentDeleted ? `; the ${outcome.resentDeleted} file(s) sent again were deleted` : '';
      helpers.log(`series ${uid}: no job created: ${outcome.reason}${deleted}`);
    }
  };
}

import type { AppDeps } from '../http/deps.ts';
import type { TaskList } from './task.ts';
import { seriesStableTask } from '../ingest/seriesStable.ts';
import { createProcessTask } from './processTask.ts';
import { SWEEP_RETENTION_KIND, sweepRetentionTask } from '../retention/sweepRetention.ts';
import { PACS_RETRIEVE, pacsRetrieveTask } from '../pacs/retrieveTask.ts';
import { pacsExportTask } from '../pacs/exportTask.ts';
import { PACS_EXPORT } from '../pacs/exportStore.ts';

/** Every kind of job and the handler that runs it. One line per kind. */
export function taskList(deps: AppDeps): TaskList {
  const chosen = deps.runtime?.resolvedEngine;
  return {
    'series-stable': seriesStableTask(deps),
    process: createProcessTask(deps, chosen ? { resolveEngine: async () => chosen } : {}),
    [SWEEP_RETENTION_KIND]: sweepRetentionTask(deps),
    [PACS_RETRIEVE]: pacsRetrieveTask(deps),
    [PACS_EXPORT]: pacsExportTask(deps),
  };
}

import type { AppTaskList } from '../jobs/task.ts';
import { pacsExportTask } from '../pacs/exportTask.ts';
import { pacsRetrieveTask } from '../pacs/retrieveTask.ts';
import { createProcessTask } from '../processing/processTask.ts';
import { sweepRetentionTask } from '../retention/sweepRetention.ts';
import { seriesStableTask } from '../series/seriesStableTask.ts';
import type { ChosenEngine } from '../engines/engine.ts';
import type { AppContext } from './context.ts';

/** Every kind of job and the handler that runs it (server/jobs/kinds.ts has the kinds). One line per kind. */
export function taskList(ctx: AppContext & { engine: ChosenEngine }): AppTaskList {
  return {
    'series-stable': seriesStableTask(ctx),
    process: createProcessTask(ctx, ctx.engine),
    'sweep-retention': sweepRetentionTask(ctx),
    'pacs-retrieve': pacsRetrieveTask(ctx),
    'pacs-export': pacsExportTask(ctx),
  };
}

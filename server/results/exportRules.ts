import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { callingAetsOfSeries } from '../dicomIndex/callingAets.ts';
import type { Queue } from '../jobs/queue.ts';
import { queueExport } from './pacsExports.ts';
import { nodesRetrievedFrom } from './retrievedSeries.ts';

/** The nodes a series' result goes to by rule: where it was retrieved from, or whose rule names the sender's AE title. */
export async function exportNodesFor(
  deps: { config: Pick<Config, 'pacsNodes'>; db: Database },
  seriesUid: string,
): Promise<string[]> {
  const nodes = deps.config.pacsNodes.filter((n) => n.export.retrieved || n.export.callingAets.length > 0);
  if (nodes.length === 0) return [];
  const retrieved = new Set(await nodesRetrievedFrom(deps.db, seriesUid));
  const aets = new Set(await callingAetsOfSeries(deps.db, seriesUid));
  return nodes
    .filter((n) => (n.export.retrieved && retrieved.has(n.name)) || n.export.callingAets.some((a) => aets.has(a)))
    .map((n) => n.name);
}

/** After the result is recorded (and before the inputs and their index rows are removed). */
export async function queueRuleExports(
  deps: { config: Pick<Config, 'pacsNodes'>; db: Database; queue: Queue },
  resultId: string,
  seriesUid: string,
  files: ReadonlyArray<{ name: string }>,
  log: (line: string) => void,
): Promise<void> {
  if (!files.some((f) => f.name.endsWith('_seg.dcm'))) return;
  for (const node of await exportNodesFor(deps, seriesUid)) {
    await queueExport(deps.db, deps.queue, resultId, node, 'rule');
    log(`export rule: the DICOM SEG will be sent to ${node}`);
  }
}

import { writeFile } from 'node:fs/promises';
import type { AppDeps } from '../http/deps.ts';
import type { TaskHelpers } from '../jobs/task.ts';
import { queueExport } from '../pacs/exportStore.ts';
import { VolumeError } from '../volume/errors.ts';
import type { LabelMap } from '../volume/volume.ts';
import { GridMismatchError } from './alignGrid.ts';
import { segFromSeries, type ReadSeries } from './segFromSeries.ts';
import { EmptySegmentationSegError, SegSourceError, type SegSegment } from './segWriter.ts';

/**
 * The process task's DICOM steps: the label map of a DICOM series becomes `<name>_seg.dcm` next to
 * the models (written while the source images are still stored: they are removed after processing
 * unless KEEP_INPUTS), and once the result is recorded the automatic export rules queue sending it.
 * A SEG that cannot be made is a warning in the job log, never a failed job: the models stand.
 */

const ALGORITHM: Record<string, string> = {
  builtin: 'anatomy-gateway built-in',
  totalsegmentator: 'TotalSegmentator',
  slicer: 'TotalSegmentator (3D Slicer)',
};

export async function writeSegStep(opts: {
  files: string[];
  labelMap: LabelMap;
  segments: SegSegment[];
  engine: string;
  seriesDescription?: string;
  outFile: string;
  helpers: Pick<TaskHelpers, 'log' | 'signal'>;
  /** The series as the job read it (segFromSeries reads it again without). */
  series?: ReadSeries;
}): Promise<boolean> {
  const { helpers } = opts;
  try {
    const seg = await segFromSeries({
      files: opts.files,
      labelMap: opts.labelMap,
      segments: opts.segments.map((s) => ({ label: s.label, name: s.name, color: s.color })),
      algorithmName: ALGORITHM[opts.engine] ?? opts.engine,
      seriesDescription: opts.seriesDescription ? `SEG ${opts.seriesDescription}`.slice(0, 64) : undefined,
      signal: helpers.signal,
      series: opts.series,
    });
    for (const w of seg.warnings) helpers.log(`DICOM SEG warning: ${w}`);
    await writeFile(opts.outFile, seg.buffer);
    helpers.log(`DICOM SEG: ${seg.segmentNumbers.size} segments in ${seg.frames} frames`);
    return true;
  } catch (e) {
    helpers.signal.throwIfAborted();
    if (
      e instanceof GridMismatchError ||
      e instanceof VolumeError ||
      e instanceof EmptySegmentationSegError ||
      e instanceof SegSourceError
    ) {
      helpers.log(`no DICOM SEG: ${e.message}`);
      return false;
    }
    throw e;
  }
}

/** The nodes a series' result goes to by rule: where it was retrieved from, or whose rule names the sender's AE title. */
export async function exportNodesFor(deps: Pick<AppDeps, 'config' | 'db'>, seriesUid: string): Promise<string[]> {
  const nodes = deps.config.pacsNodes.filter((n) => n.export.retrieved || n.export.callingAets.length > 0);
  if (nodes.length === 0) return [];
  const retrieved = new Set(
    (
      await deps.db.query<{ node: string }>('SELECT node FROM pacs_retrieved_series WHERE series_uid = $1', [seriesUid])
    ).rows.map((r) => r.node),
  );
  const aets = new Set(
    (
      await deps.db.query<{ calling_aet: string }>(
        'SELECT DISTINCT calling_aet FROM dicom_instances WHERE series_uid = $1 AND calling_aet IS NOT NULL',
        [seriesUid],
      )
    ).rows.map((r) => r.calling_aet),
  );
  return nodes
    .filter((n) => (n.export.retrieved && retrieved.has(n.name)) || n.export.callingAets.some((a) => aets.has(a)))
    .map((n) => n.name);
}

/** After the result is recorded (and before the inputs and their index rows are removed). */
export async function queueRuleExports(
  deps: Pick<AppDeps, 'config' | 'db' | 'queue'>,
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

import { writeFile } from 'node:fs/promises';
import type { TaskHelpers } from '../jobs/task.ts';
import { VolumeError } from '../volume/errors.ts';
import type { LabelMap } from '../volume/volume.ts';
import { GridMismatchError } from './alignGrid.ts';
import { segFromSeries, type ReadSeries } from './segFromSeries.ts';
import { EmptySegmentationSegError, SegSourceError, type SegSegment } from './segWriter.ts';

/**
 * The process task's DICOM steps: the label map of a DICOM series becomes `<name>_seg.dcm` next to
 * the models (written while the source images are still stored: they are removed after processing
 * unless KEEP_INPUTS). A SEG that cannot be made is a warning in the job log, never a failed job: the models stand.
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
      segments: opts.segments.map((s) => ({
        label: s.label,
        name: s.name,
        color: s.color,
        algorithm: s.algorithm,
        ...(s.totalSegmentatorId === undefined ? {} : { totalSegmentatorId: s.totalSegmentatorId }),
      })),
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

import { PermanentError } from '../errors.ts';
import type { ProcessInput } from '../jobs/kinds.ts';
import type { TaskHelpers } from '../jobs/task.ts';
import type { ReadSeries } from '../seg/segFromSeries.ts';
import type { Storage } from '../storage/storage.ts';
import { readDicomSeries } from '../volume/dicomSeries.ts';
import { VolumeError } from '../volume/errors.ts';
import { readVolumeFile } from '../volume/readVolume.ts';
import type { Volume } from '../volume/volume.ts';
import { inputKeys } from './processPayload.ts';

/** The input as a volume; for a DICOM series also its grid and UIDs, which its DICOM SEG refers to. */
export async function readInput(
  storage: Storage,
  input: ProcessInput,
  helpers: Pick<TaskHelpers, 'signal' | 'log'>,
): Promise<{ volume: Volume; series?: ReadSeries }> {
  const paths = inputKeys(input).map((key) => storage.localPath(key));
  try {
    if (input.kind === 'dicom-series') {
      const result = await readDicomSeries(paths, { signal: helpers.signal });
      for (const w of result.warnings) helpers.log(`warning: ${w}`);
      const { dims, spacing, origin, direction } = result.volume;
      return { volume: result.volume, series: { grid: { dims, spacing, origin, direction }, meta: result.meta } };
    }
    return { volume: await readVolumeFile(paths[0]) };
  } catch (err) {
    if (err instanceof VolumeError) throw new PermanentError(err.message, { cause: err });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PermanentError(
        'an input file of this job no longer exists in DATA_DIR (removed by retention or by hand)',
        { cause: err },
      );
    }
    throw err;
  }
}

import { mkdir, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Database } from '../../server/db/database.ts';

import { readDicomSeries } from '../../server/volume/dicomSeries.ts';
import { segFromSeries } from '../../server/seg/segFromSeries.ts';

/**
 * A processed result for a stored series, as the process task leaves it: a results row whose source
 * names the series and a real DICOM SEG made by our SEG writer, here of everything denser than water+200 HU
 * ("bone"-like voxels), so it is not empty and lines up with the images.
 */
export async function insertSegResult(
  db: Database,
  dataDir: string,
  study: string,
  series: string,
): Promise<{ resultId: string; segSeriesUid: string; segSopUid: string }> {
  const { rows } = await db.query<{ path: string }>(
    'SELECT path FROM dicom_instances WHERE series_uid = $1 ORDER BY instance_number',
    [series],
  );
  const files = rows.map((r) => join(dataDir, ...r.path.split('/')));
  const read = await readDicomSeries(files);
  const labels = new Uint8Array(read.volume.data.length);
  for (let i = 0; i < labels.length; i++) labels[i] = read.volume.data[i] > 200 ? 1 : 0;
  const labelMap = { ...read.volume, data: labels };
  const seg = await segFromSeries({
    files,
    labelMap,
    segments: [{ label: 1, name: 'liver', color: [0.9, 0.5, 0.4] }],
    algorithmName: 'test threshold',
    series: { grid: read.volume, meta: read.meta },
  });
  const resultId = randomUUID();
  const dir = join(dataDir, 'results', resultId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ct_seg.dcm'), seg.buffer);
  await db.query(
    `INSERT INTO results (id, name, engine, source, files) VALUES ($1, 'CT', 'builtin', $2::jsonb, $3::jsonb)`,
    [
      resultId,
      JSON.stringify({ kind: 'dicom-series', studyInstanceUid: study, seriesInstanceUid: series }),
      JSON.stringify([{ name: 'ct_seg.dcm', size: seg.buffer.length }]),
    ],
  );
  const { readInstanceDataset } = await import('../../server/dicomweb/instanceDataset.ts');
  const ds = await readInstanceDataset(join(dir, 'ct_seg.dcm'));
  return {
    resultId,
    segSeriesUid: String(ds.dict['0020000E'].Value?.[0]),
    segSopUid: String(ds.dict['00080018'].Value?.[0]),
  };
}

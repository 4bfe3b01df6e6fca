import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentBody } from '../../server/engines/builtin/segmentBody.ts';
import { readDataset } from '../../server/seg/dcmjsData.ts';
import { segFromSeries } from '../../server/seg/segFromSeries.ts';
import { tempDataDir } from './db.ts';
import { makeSyntheticCt, newUid, writeSyntheticDicomSeries } from './syntheticCt.ts';

export /** A 48x40x10 series, its builtin segmentation (body, lungs, bone) and the SEG built from both. */
async function syntheticSeg(t: Parameters<typeof tempDataDir>[0]) {
  const dir = await tempDataDir(t);
  const volume = makeSyntheticCt({ dims: [48, 40, 10], spacing: [7, 7, 5], seed: 3 });
  const study = newUid();
  const series = newUid();
  const files = await writeSyntheticDicomSeries(join(dir, 'src'), volume, {
    studyUid: study,
    seriesUid: series,
    patientName: 'Test^Seg',
    patientId: 'SEG-1',
  });
  const seg = segmentBody(volume);
  const result = await segFromSeries({
    files,
    labelMap: seg.labelMap,
    segments: seg.segments,
    algorithmName: 'anatomy-gateway builtin',
    algorithmVersion: '1',
  });
  const file = join(dir, 'seg.dcm');
  await writeFile(file, result.buffer);
  return { dir, volume, seg, study, series, files, result, file, dataset: readDataset(result.buffer) };
}

import type { DicomwebDeps } from './deps.ts';
import { num, sorted, str, uid, type DicomJson } from './dicomJson.ts';
import { readInstanceDataset } from './instanceDataset.ts';
import { resultSegInstances } from './instances.ts';
import { toDicomJson } from './metadata.ts';
import type { QidoLevel } from './qidoLevel.ts';
import { instanceUrl, seriesUrl } from './urls.ts';

/**
 * The SEGs of a study's results as QIDO-RS series and instances, so a viewer that lists the study
 * finds them next to the images they segment. Their attributes come from the SEG files themselves,
 * which carry the source's patient and study modules.
 */

const STUDY_AND_SERIES = new Set([
  '00080020',
  '00080030',
  '00080050',
  '00080060',
  '00080090',
  '00081030',
  '0008103E',
  '00100010',
  '00100020',
  '00100030',
  '00100040',
  '0020000D',
  '0020000E',
  '00200010',
  '00200011',
  '00080021',
  '00080031',
]);

export async function resultSegResults(
  deps: Pick<DicomwebDeps, 'db' | 'storage'>,
  level: QidoLevel,
  fixed: Record<string, string>,
  base: string,
): Promise<DicomJson[]> {
  const study = fixed.StudyInstanceUID;
  if (!study || level === 'studies') return [];
  const segs = (await resultSegInstances(deps, study)).filter(
    (s) => fixed.SeriesInstanceUID === undefined || s.seriesUid === fixed.SeriesInstanceUID,
  );
  const out: DicomJson[] = [];
  for (const s of segs) {
    const ds = await readInstanceDataset(s.path);
    const picked = Object.fromEntries(Object.entries(ds.dict).filter(([tag]) => STUDY_AND_SERIES.has(tag)));
    const json = toDicomJson(picked, '') as DicomJson;
    json['00201209'] = num('IS', 1);
    json['00081190'] = str('UR', seriesUrl(base, study, s.seriesUid));
    if (level === 'instances') {
      json['00080016'] = uid(s.sopClassUid);
      json['00080018'] = uid(s.sopUid);
      json['00200013'] = num('IS', s.instanceNumber);
      json['00081190'] = str('UR', instanceUrl(base, study, s.seriesUid, s.sopUid));
    }
    out.push(sorted(json));
  }
  return out;
}

import { basename } from 'node:path';
import type { DicomwebDeps } from './deps.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { findInstanceFiles } from '../dicomIndex/instanceFiles.ts';
import { unexpiredResultsOfStudy } from '../results/readResults.ts';
import { resultKey } from '../storage/layout.ts';
import { firstString, readInstanceDataset } from './instanceDataset.ts';

/**
 * The instances our DICOMweb service serves: every stored instance, and the DICOM SEG each processed
 * series produced (it belongs to the source's study, so a viewer that opens the study shows it over
 * the images). Results that expired are not listed.
 */

export interface ServedInstance {
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  instanceNumber: number | null;
  /** A local path of the Part 10 file (Storage.localPath). */
  path: string;
  size: number;
}

export interface InstanceKey {
  study: string;
  series?: string;
  instance?: string;
}

export function assertUids(key: InstanceKey): void {
  for (const u of [key.study, key.series, key.instance]) {
    if (u !== undefined && !isUsableUid(u)) throw httpError(400, 'a UID in the URL is not valid');
  }
}

async function storedInstances(
  deps: Pick<DicomwebDeps, 'db' | 'storage'>,
  key: InstanceKey,
): Promise<ServedInstance[]> {
  const rows = await findInstanceFiles(deps.db, key);
  return rows.map((r) => ({
    studyUid: r.studyUid,
    seriesUid: r.seriesUid,
    sopUid: r.sopUid,
    sopClassUid: r.sopClassUid,
    transferSyntaxUid: r.transferSyntaxUid,
    instanceNumber: r.instanceNumber,
    path: deps.storage.localPath(r.path),
    size: r.sizeBytes,
  }));
}

/** The SEGs of the study's results, described from their own headers. */
export async function resultSegInstances(
  deps: Pick<DicomwebDeps, 'db' | 'storage'>,
  study: string,
): Promise<ServedInstance[]> {
  const out: ServedInstance[] = [];
  for (const result of await unexpiredResultsOfStudy(deps.db, study)) {
    const name = result.files.map((f) => f.name).find((n) => n.endsWith('_seg.dcm'));
    if (!name || basename(name) !== name) continue;
    const key = resultKey(result.id, name);
    const info = await deps.storage.stat(key).catch(() => undefined);
    if (!info) continue;
    const path = deps.storage.localPath(key);
    const ds = await readInstanceDataset(path);
    const seriesUid = firstString(ds.dict, '0020000E');
    const sopUid = firstString(ds.dict, '00080018');
    if (firstString(ds.dict, '0020000D') !== study || !seriesUid || !sopUid) continue;
    out.push({
      studyUid: study,
      seriesUid,
      sopUid,
      sopClassUid: firstString(ds.dict, '00080016') ?? '',
      transferSyntaxUid: firstString(ds.meta, '00020010') ?? '1.2.840.10008.1.2.1',
      instanceNumber: 1,
      path,
      size: info.size,
    });
  }
  return out;
}

/** The instances under a study, series or instance URL, in series and instance order; 404 when none. */
export async function findInstances(
  deps: Pick<DicomwebDeps, 'db' | 'storage'>,
  key: InstanceKey,
): Promise<ServedInstance[]> {
  assertUids(key);
  const stored = await storedInstances(deps, key);
  const segs = (await resultSegInstances(deps, key.study)).filter(
    (s) =>
      (key.series === undefined || s.seriesUid === key.series) &&
      (key.instance === undefined || s.sopUid === key.instance) &&
      !stored.some((x) => x.sopUid === s.sopUid),
  );
  const all = [...stored, ...segs];
  if (all.length === 0) {
    throw httpError(404, key.instance ? 'no such instance' : key.series ? 'no such series' : 'no such study');
  }
  return all;
}

export async function findInstance(
  deps: Pick<DicomwebDeps, 'db' | 'storage'>,
  key: Required<InstanceKey>,
): Promise<ServedInstance> {
  return (await findInstances(deps, key))[0];
}

import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AppDeps } from '../http/deps.ts';
import { httpError } from '../http/errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { absoluteDataPath } from '../ingest/storeInstance.ts';
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
  /** Absolute path of the Part 10 file. */
  path: string;
  size: number;
}

export interface InstanceKey {
  study: string;
  series?: string;
  instance?: string;
}

interface StoredRow {
  study_uid: string;
  series_uid: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  transfer_syntax_uid: string;
  instance_number: number | null;
  path: string;
  size_bytes: string;
}

export function assertUids(key: InstanceKey): void {
  for (const u of [key.study, key.series, key.instance]) {
    if (u !== undefined && !isUsableUid(u)) throw httpError(400, 'a UID in the URL is not valid');
  }
}

async function storedInstances(deps: Pick<AppDeps, 'db' | 'config'>, key: InstanceKey): Promise<ServedInstance[]> {
  const params: string[] = [key.study];
  let where = 'study_uid = $1';
  if (key.series !== undefined) {
    params.push(key.series);
    where += ` AND series_uid = $${params.length}`;
  }
  if (key.instance !== undefined) {
    params.push(key.instance);
    where += ` AND sop_instance_uid = $${params.length}`;
  }
  const { rows } = await deps.db.query<StoredRow>(
    `SELECT study_uid, series_uid, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, path, size_bytes
       FROM dicom_instances WHERE ${where} ORDER BY series_uid, instance_number NULLS LAST, sop_instance_uid`,
    params,
  );
  return rows.map((r) => ({
    studyUid: r.study_uid,
    seriesUid: r.series_uid,
    sopUid: r.sop_instance_uid,
    sopClassUid: r.sop_class_uid,
    transferSyntaxUid: r.transfer_syntax_uid,
    instanceNumber: r.instance_number,
    path: absoluteDataPath(deps.config.dataDir, r.path),
    size: Number(r.size_bytes),
  }));
}

interface ResultRow {
  id: string;
  files: unknown;
}

/** The SEGs of the study's results, described from their own headers. */
export async function resultSegInstances(
  deps: Pick<AppDeps, 'db' | 'config'>,
  study: string,
): Promise<ServedInstance[]> {
  const { rows } = await deps.db.query<ResultRow>(
    `SELECT id, files FROM results
      WHERE source->>'studyInstanceUid' = $1 AND (expires_at IS NULL OR expires_at > now())
      ORDER BY created_at`,
    [study],
  );
  const out: ServedInstance[] = [];
  for (const row of rows) {
    const files = (typeof row.files === 'string' ? JSON.parse(row.files) : row.files) as Array<{ name?: unknown }>;
    const name = files.map((f) => f.name).find((n): n is string => typeof n === 'string' && n.endsWith('_seg.dcm'));
    if (!name || basename(name) !== name) continue;
    const path = join(deps.config.dataDir, 'results', row.id, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) continue;
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
export async function findInstances(deps: Pick<AppDeps, 'db' | 'config'>, key: InstanceKey): Promise<ServedInstance[]> {
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
  deps: Pick<AppDeps, 'db' | 'config'>,
  key: Required<InstanceKey>,
): Promise<ServedInstance> {
  return (await findInstances(deps, key))[0];
}

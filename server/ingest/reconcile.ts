import { copyFile, readFile, stat } from 'node:fs/promises';
import dicomParser from 'dicom-parser';
import { InstanceRejectedError } from '../dicom/failure.ts';
import { indexedPaths } from '../dicomIndex/instanceFiles.ts';
import { storeInstance, type StoreDeps } from './storeInstance.ts';

/**
 * Files and index agree after a crash: an instance file placed but not yet indexed when the process died (it was
 * never acknowledged) is indexed if it is a whole, valid instance, and removed if it is not (cut short, or not
 * DICOM). Only files older than this process are looked at: newer ones may be on their way into the index now.
 */

const BATCH = 500;
/** Larger files are checked by their header only (a whole parse would hold them in memory). */
const FULL_CHECK_BYTES = 512 * 1024 * 1024;

export interface ReconcileReport {
  checked: number;
  indexed: number;
  removed: number;
  failed: number;
}

/** Whether the bytes are a complete DICOM file (dicom-parser throws on an element cut short). */
async function isWholeInstance(path: string, size: number): Promise<boolean> {
  if (size > FULL_CHECK_BYTES) return true;
  try {
    dicomParser.parseDicom(new Uint8Array(await readFile(path)));
    return true;
  } catch {
    return false;
  }
}

export async function reconcileInstanceFiles(
  deps: StoreDeps,
  startedAt: Date,
  onProblem: (key: string, message: string) => void = () => {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, indexed: 0, removed: 0, failed: 0 };
  const batch: string[] = [];
  const settle = async (): Promise<void> => {
    const known = await indexedPaths(deps.db, batch);
    for (const key of batch.splice(0)) {
      report.checked += 1;
      if (!known.has(key)) await reconcileOne(deps, key, startedAt, report, onProblem);
    }
  };
  for await (const key of deps.storage.list('dicom/')) {
    if (!key.endsWith('.dcm')) continue;
    batch.push(key);
    if (batch.length >= BATCH) await settle();
  }
  if (batch.length > 0) await settle();
  return report;
}

async function reconcileOne(
  deps: StoreDeps,
  key: string,
  startedAt: Date,
  report: ReconcileReport,
  onProblem: (key: string, message: string) => void,
): Promise<void> {
  const path = deps.storage.localPath(key);
  const info = await stat(path).catch(() => undefined);
  if (!info || info.mtime >= startedAt) return;
  if (!(await isWholeInstance(path, info.size))) {
    if (await deps.storage.remove(key)) report.removed += 1;
    onProblem(key, 'an unindexed instance file was cut short; removed');
    return;
  }
  // A copy goes through the normal store (header checks, index row); the file at the key is replaced by it.
  const staged = await deps.storage.staging.newFile();
  try {
    await copyFile(path, staged);
    const stored = await storeInstance(deps, { file: staged }, { via: 'recovered' });
    // Found under a key its UIDs do not give: it now lives at its own key.
    if (stored.path !== key) await deps.storage.remove(key);
    report.indexed += 1;
  } catch (e) {
    await deps.storage.staging.remove(staged);
    if (e instanceof InstanceRejectedError) {
      if (await deps.storage.remove(key)) report.removed += 1;
      onProblem(key, `an unindexed instance file is not a valid instance (${e.message}); removed`);
    } else {
      report.failed += 1;
      onProblem(key, `an unindexed instance file could not be indexed: ${(e as Error).message}`);
    }
  }
}

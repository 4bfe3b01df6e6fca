import { randomUUID } from 'node:crypto';
import { link, mkdir, rename, rm, stat } from 'node:fs/promises';
import type { Database } from '../db/database.ts';
import { absoluteDataPath } from '../ingest/storeInstance.ts';
import { tempDir } from '../ingest/tempFiles.ts';
import type { Config } from '../config.ts';
import { join } from 'node:path';

/**
 * Deleting a job's inputs after it succeeded (unless KEEP_INPUTS). Only what the job itself read may go:
 * an instance re-sent while the job ran has the same path (paths derive from UIDs) but is a different
 * file (storage renames a new file into place) and has a newer index row, so it stays, and so does its row.
 */

/** Which file the job read at a path: a replacement is a new inode, so (dev, ino) tells them apart. */
export interface FileIdentity {
  dev: number;
  ino: number;
  /** Bytes, when the job started. */
  size: number;
}

export async function fileIdentities(paths: readonly string[]): Promise<Map<string, FileIdentity>> {
  const out = new Map<string, FileIdentity>();
  for (const p of paths) {
    try {
      const s = await stat(p);
      out.set(p, { dev: s.dev, ino: s.ino, size: s.size });
    } catch {
      // missing: the reader reports it
    }
  }
  return out;
}

export interface InputDeletion {
  files: number;
  indexRows: number;
  /** Files left because something newer arrived under the same name while the job ran. */
  keptNewer: number;
}

/**
 * Removes `abs` only if it is still the file the job read. The file is first renamed aside (into
 * DATA_DIR/tmp, which start-up empties) so the check and the removal look at the same file; a newer
 * file found there is linked back, unless an even newer one took the name meanwhile.
 */
async function removeIfSame(
  config: Pick<Config, 'dataDir'>,
  abs: string,
  identity: FileIdentity | undefined,
): Promise<'removed' | 'kept' | 'missing'> {
  if (!identity) return 'kept';
  const dir = tempDir(config);
  await mkdir(dir, { recursive: true });
  const aside = join(dir, `${randomUUID()}.delete`);
  try {
    await rename(abs, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw e;
  }
  const s = await stat(aside);
  if (s.dev === identity.dev && s.ino === identity.ino) {
    await rm(aside, { force: true });
    return 'removed';
  }
  try {
    await link(aside, abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  await rm(aside, { force: true });
  return 'kept';
}

/**
 * Deletes the DICOM instances a `process` job read, their index rows, and the series and study rows
 * (patient data) left without instances. `readIdentities` are the files as the job found them.
 */
export async function deleteSeriesInputs(
  deps: { config: Pick<Config, 'dataDir'>; db: Database },
  jobId: string,
  files: readonly string[],
  readIdentities: ReadonlyMap<string, FileIdentity>,
): Promise<InputDeletion> {
  const { db, config } = deps;
  const deleted = await db.transaction(async (tx) => {
    // Rows received after the job was created belong to a later job, even at the same path.
    const { rows } = await tx.query<{ path: string; series_uid: string; study_uid: string }>(
      `DELETE FROM dicom_instances
        WHERE path = ANY($1::text[])
          AND received_at <= (SELECT created_at FROM jobs WHERE id = $2)
       RETURNING path, series_uid, study_uid`,
      [[...files], jobId],
    );
    const seriesUids = [...new Set(rows.map((r) => r.series_uid))].sort();
    const studyUids = [...new Set(rows.map((r) => r.study_uid))].sort();
    // Lock before looking, as grouping does: an instance being indexed meanwhile either commits first
    // (and its series stays) or waits and then recreates the rows.
    for (const uid of seriesUids) {
      const locked = await tx.query('SELECT 1 FROM dicom_series WHERE series_uid = $1 FOR UPDATE', [uid]);
      if (locked.rowCount === 0) continue;
      await tx.query(
        'DELETE FROM dicom_series s WHERE s.series_uid = $1 AND NOT EXISTS (SELECT 1 FROM dicom_instances i WHERE i.series_uid = $1)',
        [uid],
      );
    }
    for (const uid of studyUids) {
      const locked = await tx.query('SELECT 1 FROM dicom_studies WHERE study_uid = $1 FOR UPDATE', [uid]);
      if (locked.rowCount === 0) continue;
      await tx.query(
        `DELETE FROM dicom_studies WHERE study_uid = $1
            AND NOT EXISTS (SELECT 1 FROM dicom_series WHERE study_uid = $1)
            AND NOT EXISTS (SELECT 1 FROM dicom_instances WHERE study_uid = $1)`,
        [uid],
      );
    }
    return rows.map((r) => r.path);
  });
  // Files go after the rows: a crash in between leaves an unindexed file, never a row without its file.
  const result: InputDeletion = { files: 0, indexRows: deleted.length, keptNewer: 0 };
  for (const rel of deleted) {
    const abs = absoluteDataPath(config.dataDir, rel);
    const outcome = await removeIfSame(config, abs, readIdentities.get(abs));
    if (outcome === 'removed') result.files += 1;
    else if (outcome === 'kept') result.keptNewer += 1;
  }
  return result;
}

/** An uploaded volume file is used by exactly one job. */
export async function deleteVolumeInput(abs: string): Promise<boolean> {
  try {
    await rm(abs);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

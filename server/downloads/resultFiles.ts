import { basename } from 'node:path';
import type { Queryable } from '../db/database.ts';
import { getResult, isExpired, type ResultRecord } from '../results/readResults.ts';
import { resultKey } from '../storage/layout.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * Result files for the results API and download links. File names are only ever taken from a result's own file
 * list, never from a request, so a request cannot point outside the result.
 */

export function resultFileUrl(resultId: string, name: string): string {
  return `/api/results/${encodeURIComponent(resultId)}/files/${encodeURIComponent(name)}`;
}

/** Parses a result file address (absolute or relative) back into its parts; undefined if it is not one. */
export function parseResultFileUrl(address: string): { resultId: string; name: string } | undefined {
  let path: string;
  try {
    path = new URL(address, 'http://x').pathname;
  } catch {
    return undefined;
  }
  const m = /^\/api\/results\/([^/]+)\/files\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  try {
    return { resultId: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) };
  } catch {
    return undefined;
  }
}

export type FileLookup =
  | { ok: true; key: string; size: number; mtime: Date; result: ResultRecord; name: string }
  | { ok: false; status: 404 | 410; reason: string };

/**
 * Finds a file of a result in storage. The name must be in the result's own list; the key is built from that list
 * entry, so "../" or absolute names in a request go nowhere.
 */
export async function locateResultFile(
  deps: { db: Queryable; storage: Storage },
  resultId: string,
  name: string,
): Promise<FileLookup> {
  const { db, storage } = deps;
  const result = await getResult(db, resultId);
  if (!result) return { ok: false, status: 404, reason: 'There is no such result.' };
  if (isExpired(result))
    return { ok: false, status: 410, reason: 'This result has been removed after its retention period.' };
  const listed = result.files.find((f) => f.name === name);
  if (!listed || basename(listed.name) !== listed.name || listed.name.startsWith('.')) {
    return { ok: false, status: 404, reason: 'This result has no file of that name.' };
  }
  const key = resultKey(result.id, listed.name);
  const info = await storage.stat(key).catch(() => undefined);
  if (!info) return { ok: false, status: 410, reason: 'This file is no longer on the server.' };
  return { ok: true, key, size: info.size, mtime: info.mtime, result, name: listed.name };
}

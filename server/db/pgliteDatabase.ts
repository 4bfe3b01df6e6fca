import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, SqlValue } from './database.ts';

/**
 * PostgreSQL's page cache inside PGlite's WASM memory, which PGlite touches whole at start: at the default
 * 128 MB an open PGlite was 295 MB of RSS, at 16 MB 178 MB (and 228 against 368 MB after 3000 upserts).
 * Pages evicted from it are still in the OS page cache (PGlite reads its files through the file system),
 * so a smaller cache costs a copy, not a disk read. STOW-RS of a 300-slice CT with 16 MB: 260-330 inst/s.
 */
const PGLITE_SHARED_BUFFERS = '16MB';

/**
 * A new folder is created by a short-lived child process (pgliteInitdb.ts): initdb in this process kept
 * about 450 MB of its WASM memory alive for good. The child works in a sibling folder that is renamed into
 * place when complete, so a crash never leaves a half-made cluster. If the child cannot run (or the folder
 * is not empty), PGlite.create runs initdb here as before.
 */
async function initdbInChild(dataDir: string): Promise<void> {
  if (readdirSync(dataDir).length > 0) return;
  const staging = `${dataDir}.initdb-${process.pid}-${Date.now()}`;
  const ok = await new Promise<boolean>((resolve) => {
    const child = fork(join(import.meta.dirname, 'pgliteInitdb.ts'), [staging], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    child.stderr?.resume();
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
  if (ok && existsSync(join(staging, 'PG_VERSION'))) {
    rmdirSync(dataDir);
    renameSync(staging, dataDir);
  } else {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * PGlite runs PostgreSQL with fsync off (`-F`) and its file layer has no fsync either: a commit's WAL reaches
 * the OS page cache but not the disk, so a power cut could lose index rows of instances whose senders were
 * told "stored". After every writing statement we fsync, from Node, the WAL segments and pg_control; WAL
 * replay at the next start then restores every commit that was acknowledged. Concurrent requests share one
 * fsync that started after their own write (group commit), so a burst pays for few syncs.
 */
export function walSyncer(dataDir: string, fsyncFile: (path: string) => Promise<void> = fsyncPath): () => Promise<void> {
  const walDir = join(dataDir, 'pg_wal');
  const control = join(dataDir, 'global', 'pg_control');
  // mtime+size of each file at its last fsync. WAL segments are preallocated and recycled under future names,
  // so "the newest name" is not "the segment in use": files are chosen by what changed since the last sync.
  const syncedAs = new Map<string, string>();
  const syncOnce = async (): Promise<void> => {
    const names = (await readdir(walDir)).filter((f) => /^[0-9A-F]{24}$/.test(f));
    const files = [...names.map((f) => join(walDir, f)), control];
    const now = Date.now();
    for (const path of files) {
      let s;
      try {
        s = await stat(path);
      } catch {
        continue; // recycled or removed meanwhile
      }
      const key = `${s.mtimeMs}:${s.size}`;
      // mtime advances in coarse ticks: a write in the same tick as the last sync leaves it unchanged, so a file
      // touched in the last moment is synced whatever its key says.
      if (syncedAs.get(path) === key && now - s.mtimeMs > 100) continue;
      await fsyncFile(path);
      syncedAs.set(path, key);
    }
  };
  let current: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const request = (): Promise<void> => {
    if (!current) {
      current = syncOnce().finally(() => {
        current = undefined;
      });
      return current;
    }
    // The running sync may have started before the caller's write: wait for one that starts after it.
    next ??= current.then(
      () => {
        next = undefined;
        return request();
      },
      () => {
        next = undefined;
        return request();
      },
    );
    return next;
  };
  return request;
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const READ_ONLY = /^\s*(SELECT|SHOW|EXPLAIN)\b/i;

/**
 * Embedded PostgreSQL (PGlite, WASM) in one folder, for a single-machine install with no database server.
 * PGlite is one connection inside this process: it serialises queries and transactions itself, so only one
 * process may open a folder (`worker` processes on other machines need a real PostgreSQL).
 * `dataDir` undefined = in memory (tests).
 */
export async function openPgliteDatabase(
  dataDir: string | undefined,
  options: { fsyncFile?: (path: string) => Promise<void> } = {},
): Promise<Database> {
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdbInChild(dataDir);
  }
  const lite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { [types.INT8]: (value: string) => Number(value) },
    startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
  });

  const wrap = (q: { query: PGlite['query']; exec: PGlite['exec'] }): Queryable => ({
    async query<R>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<R>> {
      const res = await q.query<R>(sql, params ? [...params] : undefined);
      // affectedRows is 0 for a plain SELECT; pg's rowCount counts the rows returned.
      return { rows: res.rows, rowCount: res.fields.length > 0 ? res.rows.length : (res.affectedRows ?? 0) };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(lite);
  const sync = dataDir ? walSyncer(dataDir, options.fsyncFile) : async () => undefined;

  return {
    driver: 'pglite',
    async query<R>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<R>> {
      const res = await base.query<R>(sql, params);
      if (!READ_ONLY.test(sql)) await sync();
      return res;
    },
    async exec(sql) {
      await base.exec(sql);
      await sync();
    },
    async transaction(fn) {
      const result = await lite.transaction((tx) => fn(wrap(tx)));
      await sync();
      return result;
    },
    async listen(channel, onNotify) {
      const unlisten = await lite.listen(channel, onNotify);
      return async () => {
        await unlisten();
      };
    },
    async notify(channel, payload = '') {
      await lite.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      if (!lite.closed) await lite.close();
    },
  };
}

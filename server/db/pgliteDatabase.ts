import { fork } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  fdatasync,
  fsync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite, types } from '@electric-sql/pglite';
import { mayWrite, type Database, type Queryable, type QueryResult, type SqlValue } from './database.ts';

/**
 * PostgreSQL's page cache inside PGlite's WASM memory, which PGlite touches whole at start (docs/performance.md).
 * Pages evicted from it are still in the OS page cache (PGlite reads its files through the file system), so a
 * smaller cache costs a copy, not a disk read.
 */
const PGLITE_SHARED_BUFFERS = '16MB';

/**
 * A new folder is created by a short-lived child process (pgliteInitdb.ts): initdb in this process kept
 * hundreds of MB of its WASM memory alive for good. The child works in a sibling folder that is renamed into
 * place when complete, so a crash never leaves a half-made cluster. If the child cannot run (or the folder
 * is not empty), PGlite.create runs initdb here as before.
 */
async function initdbInChild(dataDir: string): Promise<void> {
  if (readdirSync(dataDir).length > 0) return;
  const staging = `${dataDir}.initdb-${process.pid}-${Date.now()}`;
  const ok = await new Promise<boolean>((resolve) => {
    const child = fork(join(import.meta.dirname, 'pgliteInitdb.ts'), [staging], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
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
 * PGlite sets the mode of the files it creates itself, whatever the process umask: 0666 for those initdb makes,
 * 0644 for some it writes at start (pg_internal.init). They lie inside owner-only folders, but are narrowed here
 * as soon as the cluster is open, so that DATA_DIR's start-up check (storage/ownerOnly.ts) is left to report
 * what it does not expect.
 */
function narrowClusterFiles(dataDir: string): void {
  for (const entry of readdirSync(dataDir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dataDir, entry);
    const info = lstatSync(path);
    if ((info.mode & 0o077) !== 0 && !info.isSymbolicLink()) chmodSync(path, info.mode & 0o700);
  }
}

/** What a sync covers: a WAL segment's data, pg_control (fully), or the pg_wal directory's entries. */
export type SyncTarget = 'wal' | 'control' | 'directory';

export type WalSync = (() => Promise<void>) & { close(): void };

/**
 * PGlite runs PostgreSQL with fsync off (`-F`) and its file layer has no fsync either: a commit's WAL reaches
 * the OS page cache but not the disk, so a power cut could lose index rows of instances whose senders were
 * told "stored". After every writing statement we sync, from Node, the WAL segments and pg_control; WAL
 * replay at the next start then restores every commit that was acknowledged. Concurrent requests share one
 * sync that started after their own write (group commit), so a burst pays for few syncs.
 *
 * WAL segments are synced with fdatasync, as PostgreSQL's own default (wal_sync_method) does: a segment
 * is preallocated, so a commit changes its data and mtime only, and fsync would also commit the mtime to
 * ext4's journal, which first writes out every other file's newly allocated data (the instance files
 * being received). A segment seen under a new name (created, or recycled by a rename) also gets the
 * pg_wal directory synced, so its entry survives a power cut as PostgreSQL ensures with fsync on.
 *
 * Which files changed is read with readdirSync/statSync, answered from the kernel's caches in
 * microseconds, and the segments' descriptors stay open: as awaited calls on the thread pool, each of
 * those steps waited its turn behind the instance files' writes and fsyncs, so a sync took several times its
 * fdatasync under parallel STOW-RS requests (docs/performance.md).
 */
export function walSyncer(dataDir: string, syncFile?: (path: string, target: SyncTarget) => Promise<void>): WalSync {
  const walDir = join(dataDir, 'pg_wal');
  const control = join(dataDir, 'global', 'pg_control');
  const descriptors = new Map<string, number>();
  const sync = syncFile ?? ((path: string, target: SyncTarget) => syncOpen(descriptors, path, target));
  // mtime+size of each file at its last sync. WAL segments are preallocated and recycled under future names,
  // so "the newest name" is not "the segment in use": files are chosen by what changed since the last sync.
  const syncedAs = new Map<string, string>();
  const syncOnce = async (): Promise<void> => {
    const names = readdirSync(walDir).filter((f) => /^[0-9A-F]{24}$/.test(f));
    const files = [...names.map((f) => join(walDir, f)), control];
    const now = Date.now();
    let newName = false;
    for (const path of files) {
      const s = statSync(path, { throwIfNoEntry: false });
      if (!s) continue; // recycled or removed meanwhile
      const key = `${s.mtimeMs}:${s.size}`;
      const before = syncedAs.get(path);
      // mtime advances in coarse ticks: a write in the same tick as the last sync leaves it unchanged, so a file
      // touched in the last moment is synced whatever its key says.
      if (before === key && now - s.mtimeMs > 100) continue;
      const target: SyncTarget = path === control ? 'control' : 'wal';
      await sync(path, target);
      if (before === undefined && target === 'wal') newName = true;
      syncedAs.set(path, key);
    }
    if (newName) await sync(walDir, 'directory');
    // Names no longer in pg_wal are forgotten (and their descriptors closed), so neither map grows with
    // every recycled segment.
    if (syncedAs.size > files.length || descriptors.size > files.length + 1) {
      const present = new Set(files);
      for (const path of syncedAs.keys()) if (!present.has(path)) syncedAs.delete(path);
      for (const [path, fd] of descriptors) {
        if (present.has(path) || path === walDir) continue;
        descriptors.delete(path);
        closeSync(fd);
      }
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
  const close = (): void => {
    for (const fd of descriptors.values()) closeSync(fd);
    descriptors.clear();
  };
  return Object.assign(request, { close });
}

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

/** Syncs through a descriptor kept open in `descriptors` (opened read-only on first use). */
async function syncOpen(descriptors: Map<string, number>, path: string, target: SyncTarget): Promise<void> {
  let fd = descriptors.get(path);
  if (fd === undefined) {
    fd = openSync(path, 'r');
    descriptors.set(path, fd);
  }
  try {
    if (target === 'wal') await fdatasyncAsync(fd);
    else await fsyncAsync(fd);
  } catch (e) {
    // A descriptor that failed is not trusted again: the next sync reopens the file.
    if (descriptors.get(path) === fd) {
      descriptors.delete(path);
      closeSync(fd);
    }
    throw e;
  }
}

/**
 * Embedded PostgreSQL (PGlite, WASM) in one folder, for a single-machine install with no database server.
 * PGlite is one connection inside this process: it serialises queries and transactions itself, so only one
 * process may open a folder (`worker` processes on other machines need a real PostgreSQL).
 * `dataDir` undefined = in memory (tests).
 */
export async function openPgliteDatabase(
  dataDir: string | undefined,
  options: { fsyncFile?: (path: string, target: SyncTarget) => Promise<void> } = {},
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
  if (dataDir) narrowClusterFiles(dataDir);

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
  const walSync = dataDir ? walSyncer(dataDir, options.fsyncFile) : undefined;
  const sync = walSync ?? (async () => undefined);

  return {
    driver: 'pglite',
    async query<R>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<R>> {
      const res = await base.query<R>(sql, params);
      if (mayWrite(sql)) await sync();
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
      walSync?.close();
    },
  };
}

import { mkdirSync } from 'node:fs';
import { PGlite, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult, SqlValue } from './database.ts';

/**
 * Embedded PostgreSQL (PGlite, WASM) in one folder, for a single-machine install with no database server.
 * PGlite is one connection inside this process: it serialises queries and transactions itself, so only one
 * process may open a folder (`worker` processes on other machines need a real PostgreSQL).
 * `dataDir` undefined = in memory (tests).
 */
export async function openPgliteDatabase(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const lite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { [types.INT8]: (value: string) => Number(value) },
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

  return {
    driver: 'pglite',
    query: base.query,
    exec: base.exec,
    transaction: (fn) => lite.transaction((tx) => fn(wrap(tx))),
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

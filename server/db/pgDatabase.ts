import pg from 'pg';
import type { Database, Queryable, QueryResult, SqlValue } from './database.ts';
import type { Logger } from '../log.ts';

const INT8_OID = 20;

/** A real PostgreSQL through a `pg` pool. LISTEN uses one dedicated client that reconnects on its own. */
export async function openPgDatabase(
  connectionString: string,
  logger: Logger,
  options: { searchPath?: string; max?: number } = {},
): Promise<Database> {
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8_OID) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format);
    },
  };
  const clientConfig: pg.ClientConfig = {
    connectionString,
    types: types as pg.CustomTypesConfig,
    connectionTimeoutMillis: 10_000,
    ...(options.searchPath ? { options: `-c search_path=${options.searchPath}` } : {}),
  };
  const pool = new pg.Pool({ ...clientConfig, max: options.max ?? 10, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (database restart) must not crash the process; the pool replaces it.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'database connection lost; the pool will reconnect'));

  // Fail fast with a clear message when the server is unreachable or refuses us.
  const probe = await pool.connect().catch(async (err: unknown) => {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot connect to DATABASE_URL (${describeUrl(connectionString)}): ${(err as Error).message}`, {
      cause: err,
    });
  });
  probe.release();

  const run = async <R>(
    q: pg.Pool | pg.PoolClient,
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<QueryResult<R>> => {
    const res = await q.query(sql, params as unknown[] | undefined);
    return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
  };

  const listeners = new Map<string, Set<(payload: string) => void>>();
  let listenClient: pg.Client | undefined;
  let listenConnecting: Promise<pg.Client> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const connectListener = (): Promise<pg.Client> => {
    if (listenClient) return Promise.resolve(listenClient);
    if (listenConnecting) return listenConnecting;
    listenConnecting = (async () => {
      const client = new pg.Client(clientConfig);
      client.on('notification', (msg) => {
        for (const cb of listeners.get(msg.channel) ?? []) cb(msg.payload ?? '');
      });
      // A dropped connection (database restart) shows as 'error', 'end' or both: handled once per client.
      let lost = false;
      const onLost = (message: string): void => {
        if (lost) return;
        lost = true;
        if (listenClient === client) listenClient = undefined;
        client.end().catch(() => undefined);
        if (closed) return;
        logger.warn({ err: message }, 'LISTEN connection lost; reconnecting');
        scheduleReconnect(1000);
      };
      client.on('error', (err) => onLost(err.message));
      client.on('end', () => onLost('connection closed'));
      try {
        await client.connect();
        for (const channel of listeners.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
      } catch (err) {
        lost = true;
        client.end().catch(() => undefined);
        throw err;
      }
      listenClient = client;
      return client;
    })().finally(() => {
      listenConnecting = undefined;
    });
    return listenConnecting;
  };

  // One pending attempt at a time: overlapping chains would open several LISTEN connections and deliver
  // every notification more than once.
  const scheduleReconnect = (delayMs: number): void => {
    if (closed || listeners.size === 0 || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (closed || listenClient) return;
      connectListener().catch(() => scheduleReconnect(Math.min(delayMs * 2, 30_000)));
    }, delayMs);
    reconnectTimer.unref();
  };

  const db: Database = {
    driver: 'pg',
    query: (sql, params) => run(pool, sql, params),
    async exec(sql) {
      await pool.query(sql);
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: (sql, params) => run(client, sql, params),
          async exec(sql) {
            await client.query(sql);
          },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async listen(channel, onNotify) {
      let set = listeners.get(channel);
      const first = !set;
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
      }
      set.add(onNotify);
      // The channel is registered either way: when the database cannot be reached now, a later
      // reconnect LISTENs on it.
      const client = await connectListener().catch((err: unknown) => {
        scheduleReconnect(1000);
        throw err;
      });
      if (first) await client.query(`LISTEN ${quoteIdent(channel)}`);
      return async () => {
        const s = listeners.get(channel);
        s?.delete(onNotify);
        if (s && s.size === 0) {
          listeners.delete(channel);
          await listenClient?.query(`UNLISTEN ${quoteIdent(channel)}`).catch(() => undefined);
        }
      };
    },
    async notify(channel, payload = '') {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async close() {
      closed = true;
      clearTimeout(reconnectTimer);
      const c = listenClient;
      listenClient = undefined;
      await c?.end().catch(() => undefined);
      await pool.end();
    },
  };
  return db;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The URL without its password, for messages. */
export function describeUrl(connectionString: string): string {
  try {
    const u = new URL(connectionString);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

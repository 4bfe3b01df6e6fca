/**
 * One small interface over the two drivers: `pg` (a real PostgreSQL, DATABASE_URL set) and
 * PGlite (embedded, under DATA_DIR). The same SQL runs on both; parameters are $1, $2, ...
 */

export type SqlValue = string | number | boolean | null | Date | Buffer | Uint8Array | string[] | number[] | Record<string, unknown> | unknown[];

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /** Runs `fn` in one transaction on one connection; commits on return, rolls back on throw. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; returns a function that stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** NOTIFY through the database (works across processes on pg, within the process on PGlite). */
  notify(channel: string, payload?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * One small interface over the two drivers: `pg` (a real PostgreSQL, DATABASE_URL set) and
 * PGlite (embedded, under DATA_DIR). The same SQL runs on both; parameters are $1, $2, ...
 *
 * Pass jsonb values as JSON text (`JSON.stringify(x)` with a `::jsonb` cast): the two drivers serialise
 * JS arrays differently (pg turns them into Postgres arrays). int8 columns come back as JS numbers on both.
 */

/**
 * SQL functions of ours that write. A statement that starts with SELECT is otherwise taken to only read
 * (the embedded driver fsyncs its WAL after every statement outside a transaction that may have written).
 */
export const WRITING_FUNCTIONS = ['dicom_index_instances'] as const;

const READ_ONLY = /^\s*(SELECT|SHOW|EXPLAIN)\b/i;
const WRITING_CALL = new RegExp(`\\b(${WRITING_FUNCTIONS.join('|')})\\s*\\(`, 'i');

/** Whether a statement run on its own may write (and so must be durable before its caller is answered). */
export function mayWrite(sql: string): boolean {
  return !READ_ONLY.test(sql) || WRITING_CALL.test(sql);
}

export type SqlValue =
  | string
  | number
  | boolean
  | null
  | Date
  | Buffer
  | Uint8Array
  | string[]
  | number[]
  | Record<string, unknown>
  | unknown[];

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<R>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
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

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { loadConfig, type Config } from '../../server/config/config.ts';
import type { Database } from '../../server/db/database.ts';
import { migrate } from '../../server/db/migrate.ts';
import { openPgDatabase } from '../../server/db/pgDatabase.ts';
import { openPgliteDatabase } from '../../server/db/pgliteDatabase.ts';
import { buildContext } from '../../server/app/buildContext.ts';
import type { AppContext } from '../../server/app/context.ts';
import type { ChosenEngine } from '../../server/engines/engine.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import { silentLogger } from '../../server/log.ts';
import { requireOrSkip } from './requirements.ts';

export type TestDriver = 'pglite' | 'postgres';

/** The same suite runs on both drivers; Postgres only when TEST_DATABASE_URL names a server. */
export function testDatabases(): TestDriver[] {
  return ['pglite', 'postgres'];
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/**
 * A fresh, migrated database for one test: PGlite in memory, or a new schema on the real server
 * (dropped afterwards when the test passed; kept for inspection when it failed, as pg-boss does).
 */
export async function withTestDatabase(
  driver: TestDriver,
  t: TestContext,
  fn: (db: Database) => Promise<void>,
): Promise<void> {
  if (driver === 'pglite') {
    const db = await openPgliteDatabase(undefined);
    try {
      await migrate(db);
      await fn(db);
    } finally {
      await db.close();
    }
    return;
  }
  if (!requireOrSkip(t, Boolean(TEST_DATABASE_URL), 'PostgreSQL (set TEST_DATABASE_URL)')) return;
  const url = TEST_DATABASE_URL as string;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const db = await openPgDatabase(url, silentLogger(), { searchPath: schema, max: 8 });
  let passed = false;
  try {
    await migrate(db);
    await fn(db);
    passed = true;
  } finally {
    await db.close();
    if (passed) await dropSchema(url, schema);
  }
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

/** A temporary DATA_DIR, removed when the test ends. */
export async function tempDataDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The application's context around a test database, built as the server builds it, with a temp DATA_DIR, settings
 * suited to tests (quick backoff, no auth) and the built-in engine.
 */
export async function testAppDeps(
  db: Database,
  t: TestContext,
  env: Record<string, string> = {},
): Promise<AppContext & { engine: ChosenEngine; dataDir: string }> {
  const dataDir = await tempDataDir(t);
  const config: Readonly<Config> = loadConfig({
    DATA_DIR: dataDir,
    AUTH: 'off',
    MIN_FREE_DISK_MB: '0',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const engine: ChosenEngine = { engine: builtinEngine, reason: 'tests use the built-in engine' };
  const ctx = buildContext({
    config,
    db,
    logger: silentLogger(),
    engine,
    queue: { backoffBaseSeconds: 0.05, backoffMaxSeconds: 0.2 },
  });
  return { ...ctx, engine, dataDir };
}

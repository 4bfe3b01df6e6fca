import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database.ts';
import type { Logger } from '../log.ts';

export const MIGRATIONS_DIR = join(import.meta.dirname, '..', '..', 'migrations');

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** Numbered plain-SQL files `NNNN_name.sql`, in order. Numbers must be unique and never reused. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!m) throw new Error(`migration file name "${file}" must look like 0001_name.sql`);
      return { id: Number(m[1]), name: m[2], sql: readFileSync(join(dir, file), 'utf8') };
    })
    .sort((a, b) => a.id - b.id);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].id === migrations[i - 1].id) throw new Error(`two migrations are numbered ${migrations[i].id}`);
  }
  return migrations;
}

// Any constant works; it only has to be the same in every process that migrates this database.
const MIGRATION_LOCK_KEY = 7_414_212;

/**
 * Applies pending migrations, each in its own transaction with its bookkeeping row. A transaction-scoped
 * advisory lock serialises concurrent migrators (two processes starting at once): the second waits, then sees
 * the first one's rows and skips what is done. Returns the ids it applied.
 */
export async function migrate(
  db: Database,
  logger?: Logger,
  migrations: Migration[] = loadMigrations(),
): Promise<number[]> {
  const applied: number[] = [];
  for (const migration of migrations) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const done = await tx.query('SELECT 1 FROM schema_migrations WHERE id = $1', [migration.id]);
      if (done.rowCount > 0) return false;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [migration.id, migration.name]);
      return true;
    });
    if (didApply) {
      applied.push(migration.id);
      logger?.info({ migration: `${String(migration.id).padStart(4, '0')}_${migration.name}` }, 'migration applied');
    }
  }
  return applied;
}

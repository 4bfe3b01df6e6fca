import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadMigrations, migrate } from '../../server/db/migrate.ts';
import { openPgDatabase } from '../../server/db/pgDatabase.ts';
import { openPgliteDatabase } from '../../server/db/pgliteDatabase.ts';
import { silentLogger } from '../../server/log.ts';
import { dropSchema, TEST_DATABASE_URL } from '../support/db.ts';
import { requireOrSkip } from '../support/requirements.ts';

const all = loadMigrations();

test('migrations are numbered uniquely and in order', () => {
  assert.ok(all.length >= 1);
  assert.equal(all[0].id, 1);
  for (let i = 1; i < all.length; i++) assert.ok(all[i].id > all[i - 1].id);
});

test('migrations apply on an empty PGlite database and are a no-op the second time (pglite)', async () => {
  const db = await openPgliteDatabase(undefined);
  try {
    const first = await migrate(db);
    assert.deepEqual(
      first,
      all.map((m) => m.id),
    );
    const second = await migrate(db);
    assert.deepEqual(second, []);
    const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    assert.equal(rows.rows[0].n, all.length);
    await db.query("INSERT INTO jobs (kind) VALUES ('probe')");
  } finally {
    await db.close();
  }
});

test('migrations on PostgreSQL: empty database, second run no-op, two concurrent migrators both succeed (postgres)', async (t) => {
  if (!requireOrSkip(t, Boolean(TEST_DATABASE_URL), 'PostgreSQL (set TEST_DATABASE_URL)')) return;
  const url = TEST_DATABASE_URL as string;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const a = await openPgDatabase(url, silentLogger(), { searchPath: schema });
  const b = await openPgDatabase(url, silentLogger(), { searchPath: schema });
  try {
    const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
    // Every migration was applied exactly once between the two processes.
    assert.deepEqual(
      [...ra, ...rb].sort((x, y) => x - y),
      all.map((m) => m.id),
    );
    assert.deepEqual(await migrate(a), []);
    const rows = await a.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    assert.equal(rows.rows[0].n, all.length);
  } finally {
    await a.close();
    await b.close();
  }
  await dropSchema(url, schema);
});

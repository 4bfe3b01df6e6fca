import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger } from '../../server/log.ts';
import { tempDataDir, testDatabases, withTestDatabase } from '../support/db.ts';
import { verifyPassword } from '../../server/auth/passwords.ts';
import { findUserByName } from '../../server/auth/store.ts';
import { runUsersCommand } from '../../server/auth/usersCommand.ts';

for (const driver of testDatabases()) {
  test(`users add / reset-password / list from the command line (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = { db, logger: silentLogger() };
      const lines: string[] = [];
      const run = (...args: string[]) => runUsersCommand(deps, args, (l) => lines.push(l));

      assert.equal(await run('add', 'ops'), 0);
      const first = /password: (\S+)/.exec(lines.at(-1) ?? '')?.[1] ?? '';
      const ops = await findUserByName(db, 'ops');
      assert.deepEqual(ops?.roles, ['admin']);
      assert.ok((await verifyPassword(ops?.passwordHash ?? '', first)).ok);

      assert.equal(await run('add', 'ops'), 1, 'an existing name is not overwritten');
      assert.equal(await run('add', 'viewer', 'read,ingest'), 0);
      assert.deepEqual((await findUserByName(db, 'viewer'))?.roles, ['ingest', 'read']);
      assert.equal(await run('add', 'x', 'root'), 2);

      assert.equal(await run('reset-password', 'OPS'), 0);
      const second = /new password for ops: (\S+)/.exec(lines.at(-1) ?? '')?.[1] ?? '';
      const after = await findUserByName(db, 'ops');
      assert.ok((await verifyPassword(after?.passwordHash ?? '', second)).ok);
      assert.ok(!(await verifyPassword(after?.passwordHash ?? '', first)).ok);
      assert.equal(await run('reset-password', 'nobody'), 1);

      assert.equal(await run('list'), 0);
      assert.match(lines.at(-2) ?? '', /^ops\tadmin\t/);
      assert.equal(await run('frobnicate'), 2);
      const audit = await db.query<{ event: string; actor: string }>(`SELECT event, actor FROM audit_log ORDER BY id`);
      assert.deepEqual(
        audit.rows.map((r) => `${r.event}:${r.actor}`),
        ['user-create:command-line', 'user-create:command-line', 'user-password:command-line'],
      );
    });
  });
}

test('main.ts users add works against the embedded database', async (t) => {
  const dataDir = await tempDataDir(t);
  const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' };
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'server', 'main.ts'), 'users', 'add', 'recovery'],
    { env },
  );
  assert.match(stdout, /^created recovery \(admin\); password: \S{20,}\n$/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { addUser, basic, login } from '../support/auth.ts';

for (const driver of testDatabases()) {
  test(`a burst of concurrent wrong passwords is counted atomically: only LOGIN_MAX_FAILURES are checked, the rest 429 (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on', LOGIN_MAX_FAILURES: '10' });
      const { url } = await startTestServer(deps, t);
      await addUser(db, 'admin', 'the admin password', ['admin']);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => login(url, 'admin', `wrong ${i}`).then((r) => r.response.status)),
      );
      assert.equal(answers.filter((s) => s === 401).length, 10, `checked: ${answers.join(',')}`);
      assert.equal(answers.filter((s) => s === 429).length, 10, `refused: ${answers.join(',')}`);
      assert.equal((await login(url, 'admin', 'the admin password')).response.status, 429, 'admin stays locked here');
    });
  });

  test(`one user's lockout does not lock out another user behind the same address; the count is shared by processes (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const env = { AUTH: 'on', LOGIN_MAX_FAILURES: '4' };
      // Two servers on one database, as two serve processes behind a balancer.
      const a = await startTestServer(await testAppDeps(db, t, env), t);
      const b = await startTestServer(await testAppDeps(db, t, env), t);
      await addUser(db, 'admin', 'the admin password', ['admin']);
      await addUser(db, 'bob', 'bob password here', ['read']);
      for (let i = 0; i < 2; i++) assert.equal((await login(a.url, 'admin', `wrong ${i}`)).response.status, 401);
      for (let i = 2; i < 4; i++) assert.equal((await login(b.url, 'admin', `wrong ${i}`)).response.status, 401);
      assert.equal((await login(a.url, 'admin', 'the admin password')).response.status, 429, 'shared count');
      assert.equal((await login(b.url, 'admin', 'the admin password')).response.status, 429);
      assert.equal((await fetch(`${a.url}/api/jobs`, { headers: basic('admin', 'the admin password') })).status, 429);
      // Bob, from the same address, signs in, by form and by Basic.
      assert.equal((await login(a.url, 'bob', 'bob password here')).response.status, 200);
      assert.equal((await fetch(`${b.url}/api/jobs`, { headers: basic('bob', 'bob password here') })).status, 200);
      // A correct password gives its attempt back: bob's successes never lock bob out.
      for (let i = 0; i < 6; i++) assert.equal((await login(b.url, 'bob', 'bob password here')).response.status, 200);
      const { rows } = await db.query<{ key: string }>('SELECT key FROM login_attempts');
      assert.ok(
        rows.every((r) => /^[0-9a-f]{64}$/.test(r.key)),
        'keys are hashes: no user name or address is stored',
      );
    });
  });
}

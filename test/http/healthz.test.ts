import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { addToken, addUser, bearer, login } from '../support/auth.ts';

for (const driver of testDatabases()) {
  test(`/healthz: status only to callers not signed in; the details to a session or an API token (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);

      const anonymous = await fetch(`${url}/healthz`);
      assert.equal(anonymous.status, 200);
      assert.deepEqual(await anonymous.json(), { status: 'ok' });
      const wrongToken = await fetch(`${url}/healthz`, { headers: bearer('agt_not-a-token') });
      assert.equal(wrongToken.status, 200, 'a wrong token does not close a public route');
      assert.deepEqual(await wrongToken.json(), { status: 'ok' });

      const monitor = await addToken(db, 'monitor', ['read']);
      const detailed = (await (await fetch(`${url}/healthz`, { headers: bearer(monitor.token) })).json()) as Record<
        string,
        Record<string, unknown>
      >;
      assert.equal(detailed.database.driver, db.driver);
      assert.equal(typeof detailed.disk.freeMb, 'number');

      await addUser(db, 'nurse', 'a long enough password', []);
      const { cookie } = await login(url, 'nurse', 'a long enough password');
      const bySession = (await (await fetch(`${url}/healthz`, { headers: { Cookie: cookie } })).json()) as Record<
        string,
        unknown
      >;
      assert.ok('engine' in bySession && 'database' in bySession, 'any signed-in user sees the details');
    });
  });
}

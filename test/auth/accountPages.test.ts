import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { addUser, login } from '../support/auth.ts';
import { ensureFirstAdmin } from '../../server/auth/firstAdmin.ts';

for (const driver of testDatabases()) {
  test(`the sign-in hint points to the first password only while it stands; admins change roles (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      const hint = async () => (await (await fetch(`${url}/api/login/hint`)).json()) as { initialPassword: boolean };

      const password = await ensureFirstAdmin({ db, logger: deps.logger, dataDir: deps.dataDir });
      assert.ok(password);
      assert.deepEqual(await hint(), { initialPassword: true });
      const admin = await login(url, 'admin', password);
      const session = { Cookie: admin.cookie, 'X-CSRF-Token': admin.csrf, 'Content-Type': 'application/json' };

      // Roles: changed, audited, and the last admin keeps its role.
      const labId = await addUser(db, 'lab', 'lab password 123', ['read']);
      const roles = await fetch(`${url}/api/users/${labId}/roles`, {
        method: 'PUT',
        headers: session,
        body: JSON.stringify({ roles: ['read', 'ingest'] }),
      });
      assert.equal(roles.status, 200);
      assert.deepEqual(((await roles.json()) as { roles: string[] }).roles, ['ingest', 'read']);
      const lab = await login(url, 'lab', 'lab password 123');
      const me = (await (await fetch(`${url}/api/me`, { headers: { Cookie: lab.cookie } })).json()) as {
        roles: string[];
      };
      assert.deepEqual(me.roles, ['ingest', 'read']);
      const denied = await fetch(`${url}/api/users/${labId}/roles`, {
        method: 'PUT',
        headers: { Cookie: lab.cookie, 'X-CSRF-Token': lab.csrf, 'Content-Type': 'application/json' },
        body: JSON.stringify({ roles: ['admin'] }),
      });
      assert.equal(denied.status, 403);
      const adminId = (
        (await (await fetch(`${url}/api/me`, { headers: { Cookie: admin.cookie } })).json()) as { id: string }
      ).id;
      const last = await fetch(`${url}/api/users/${adminId}/roles`, {
        method: 'PUT',
        headers: session,
        body: JSON.stringify({ roles: ['read'] }),
      });
      assert.equal(last.status, 409);
      const { rows } = await db.query<{ target: string }>(`SELECT target FROM audit_log WHERE event = 'user-roles'`);
      assert.deepEqual(
        rows.map((r) => r.target),
        [labId],
      );

      // Changing the first password ends the hint, though the file is still there.
      const change = await fetch(`${url}/api/me/password`, {
        method: 'POST',
        headers: session,
        body: JSON.stringify({ currentPassword: password, newPassword: 'a new admin password' }),
      });
      assert.equal(change.status, 204);
      assert.deepEqual(await hint(), { initialPassword: false });
    });
  });
}

test('without the password file the sign-in page gives no hint to it', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { AUTH: 'on' });
    const { url } = await startTestServer(deps, t);
    await addUser(db, 'admin', 'the admin password', ['admin']);
    assert.deepEqual(await (await fetch(`${url}/api/login/hint`)).json(), { initialPassword: false });
  });
});

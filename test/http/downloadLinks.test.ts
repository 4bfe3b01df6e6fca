import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { addToken, addUser, bearer } from '../support/auth.ts';
import { insertResult } from '../web/fixtures.ts';
import { loadConfig, ConfigError } from '../../server/config/config.ts';

interface Created {
  id: string;
  url: string;
  expiresAt: string;
  files: number;
  contents: Array<{ resultId: string; name: string; patientData: boolean }>;
  excluded: Array<{ name: string }>;
}

interface Listed {
  links: Array<{ id: string; createdBy: string; files: Array<{ name: string; patientData: boolean }>; mine: boolean }>;
}

test('DOWNLOAD_LINK_MAX_TTL: 24 hours unless set; a default lifetime longer than it is refused', () => {
  assert.equal(loadConfig({}).downloadLinkMaxTtlSeconds, 86_400);
  assert.equal(loadConfig({ DOWNLOAD_LINK_MAX_TTL: '600', DOWNLOAD_LINK_TTL: '300' }).downloadLinkTtlSeconds, 300);
  assert.throws(() => loadConfig({ DOWNLOAD_LINK_TTL: '172800' }), ConfigError);
});

for (const driver of testDatabases()) {
  test(`download links: opaque, patient-data files left out unless ticked, listed and revoked by their creator and admins, lifetime capped (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on', DOWNLOAD_LINK_MAX_TTL: '7200' });
      const { url } = await startTestServer(deps, t);
      const alice = await addToken(db, 'alice-phone', ['read']);
      const bob = await addToken(db, 'bob-phone', ['read']);
      const admin = await addToken(db, 'ops', ['admin']);
      await addUser(db, 'unused', 'a long enough password', ['read']);

      const r = await insertResult(db, deps.dataDir, {
        name: 'Doe_Jane CT',
        files: {
          'Doe_Jane CT.glb': randomBytes(300),
          'Doe_Jane CT_seg.dcm': randomBytes(200),
          'Doe_Jane CT.nii.gz': randomBytes(100),
        },
      });
      const address = (name: string): string => `/api/results/${r.id}/files/${encodeURIComponent(name)}`;
      const all = ['Doe_Jane CT.glb', 'Doe_Jane CT_seg.dcm', 'Doe_Jane CT.nii.gz'].map(address);
      const create = (token: string, body: unknown) =>
        fetch(`${url}/api/downloads`, {
          method: 'POST',
          headers: { ...bearer(token), 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });

      // Without the tick, the SEG and the input volume stay out, and the answer says so.
      const plain = await create(alice.token, { files: all });
      assert.equal(plain.status, 200);
      const link = (await plain.json()) as Created;
      assert.deepEqual(
        link.contents.map((f) => [f.name, f.patientData]),
        [['Doe_Jane CT.glb', false]],
      );
      assert.deepEqual(link.excluded.map((f) => f.name).sort(), ['Doe_Jane CT.nii.gz', 'Doe_Jane CT_seg.dcm']);
      const token = new URL(link.url).pathname.slice(3);
      assert.match(token, /^[A-Za-z0-9_-]{32}$/);
      assert.ok(!token.includes(r.id) && !Buffer.from(token, 'base64url').toString('latin1').includes('Doe'));
      const page = await (await fetch(`${url}/d/${token}`)).text();
      assert.match(page, /Doe_Jane CT\.glb/);
      assert.doesNotMatch(page, /_seg\.dcm/);
      assert.equal((await fetch(`${url}/d/${token}/files/1`)).status, 404, 'the SEG is not in the link');

      const onlyPatientData = await create(alice.token, { files: [address('Doe_Jane CT_seg.dcm')] });
      assert.equal(onlyPatientData.status, 400);
      assert.match(((await onlyPatientData.json()) as { error: string }).error, /patient data.*includePatientData/);

      const ticked = (await (
        await create(bob.token, { files: all, includePatientData: true, expiresInSeconds: 600 })
      ).json()) as Created;
      assert.equal(ticked.files, 3);
      assert.equal(ticked.contents.filter((f) => f.patientData).length, 2);
      const tickedToken = new URL(ticked.url).pathname.slice(3);
      const seg = await fetch(`${url}/d/${tickedToken}/files/1`);
      assert.equal(seg.status, 200);
      await seg.arrayBuffer();
      const life = Date.parse(ticked.expiresAt) - Date.now();
      assert.ok(life > 590_000 && life <= 601_000, `asked for 10 minutes, got ${life} ms`);
      assert.equal((await create(bob.token, { files: all, expiresInSeconds: 7201 })).status, 400, 'over the cap');

      // Each sees their own links; an admin sees all; the token is never listed.
      const list = async (tokenValue: string): Promise<Listed> =>
        (await (await fetch(`${url}/api/downloads`, { headers: bearer(tokenValue) })).json()) as Listed;
      const mine = await list(alice.token);
      assert.deepEqual(
        mine.links.map((l) => [l.id, l.createdBy, l.mine]),
        [[link.id, 'token:alice-phone', true]],
      );
      assert.ok(!JSON.stringify(mine).includes(token));
      assert.deepEqual((await list(admin.token)).links.map((l) => l.id).sort(), [link.id, ticked.id].sort());

      // Bob cannot revoke Alice's link (it does not exist for him); Alice can, and the link stops at once.
      const del = (tokenValue: string, id: string) =>
        fetch(`${url}/api/downloads/${id}`, { method: 'DELETE', headers: bearer(tokenValue) });
      assert.equal((await del(bob.token, link.id)).status, 404);
      assert.equal((await fetch(`${url}/d/${token}`)).status, 200);
      assert.equal((await del(alice.token, link.id)).status, 204);
      const gone = await fetch(`${url}/d/${token}`);
      assert.equal(gone.status, 410);
      assert.match(await gone.text(), /withdrawn/);
      assert.equal((await fetch(`${url}/d/${token}/zip`)).status, 410);
      assert.deepEqual((await list(alice.token)).links, []);
      // An admin revokes anyone's.
      assert.equal((await del(admin.token, ticked.id)).status, 204);
      assert.equal((await fetch(`${url}/d/${tickedToken}/files/0`)).status, 410);

      const stored = await db.query<{ token_hash: string }>('SELECT token_hash FROM download_links');
      assert.ok(stored.rows.every((row) => row.token_hash.length === 64 && row.token_hash !== token));
      const revokes = await db.query<{ actor: string; target: string }>(
        `SELECT actor, target FROM audit_log WHERE event = 'download-link-revoke' ORDER BY id`,
      );
      assert.deepEqual(
        revokes.rows.map((row) => [row.actor, row.target]),
        [
          ['token:alice-phone', link.id],
          ['token:ops', ticked.id],
        ],
      );
    });
  });
}

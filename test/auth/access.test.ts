import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { addToken, addUser, basic, bearer, login } from '../support/auth.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { insertResult } from '../web/fixtures.ts';
import { requiredAccess } from '../../server/auth/accessRules.ts';
import { safeNextPath } from '../../server/auth/accessControl.ts';

const ct = makeSyntheticCt({ dims: [16, 16, 2], seed: 5 });

function stowRequest(headers: Record<string, string>): RequestInit {
  const boundary = 'auth-test-boundary';
  return {
    method: 'POST',
    headers: {
      ...headers,
      'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      Accept: 'application/dicom+json',
    },
    body: fetchBody(
      multipartRelated(syntheticDicomSliceBuffers(ct, { patientName: 'Doe^Jane' }).slice(0, 1), boundary),
    ),
  };
}

test('the rules table: public, authenticated, per role, and closed by default', () => {
  assert.equal(requiredAccess('GET', '/healthz'), 'public');
  assert.equal(requiredAccess('GET', '/d/abc/zip'), 'public');
  assert.equal(requiredAccess('GET', '/assets/app-1234.js'), 'public');
  assert.equal(requiredAccess('POST', '/dicomweb/studies'), 'ingest');
  assert.equal(requiredAccess('GET', '/dicomweb/studies'), 'read');
  assert.equal(requiredAccess('POST', '/api/uploads'), 'ingest');
  assert.equal(requiredAccess('GET', '/api/results/x/files/y'), 'read');
  assert.equal(requiredAccess('DELETE', '/api/users/1'), 'admin');
  assert.equal(requiredAccess('GET', '/'), 'authenticated');
  assert.equal(requiredAccess('GET', '/dangling'), 'admin', 'a path without a rule is closed');
  assert.equal(requiredAccess('GET', '/healthzx'), 'admin', 'a prefix matches whole segments only');
  assert.equal(requiredAccess('POST', '/healthz'), 'admin');
});

test('next after sign-in stays on this server', () => {
  assert.equal(safeNextPath('/files?x=1'), '/files?x=1');
  for (const bad of [
    '//evil.example/',
    'https://evil.example/',
    '/\\evil.example',
    'javascript:alert(1)',
    '',
    undefined,
    42,
    '/login?next=/x',
  ]) {
    assert.equal(safeNextPath(bad), '/', String(bad));
  }
});

for (const driver of testDatabases()) {
  test(`without credentials: API 401 with challenges, pages redirect to sign-in, public routes open (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);

      for (const path of [
        '/api/jobs',
        '/api/results',
        '/dicomweb/studies',
        '/api/events',
        '/api/users',
        '/api/audit',
      ]) {
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 401, path);
        assert.match(res.headers.get('content-type') ?? '', /json/);
        assert.match(((await res.json()) as { error: string }).error, /Sign in|Bearer/);
        const challenge = res.headers.get('www-authenticate') ?? '';
        assert.match(challenge, /Bearer realm="anatomy-gateway"/);
        assert.match(challenge, /Basic realm="anatomy-gateway"/);
      }
      const stow = await fetch(`${url}/dicomweb/studies`, stowRequest({}));
      assert.equal(stow.status, 401);
      // Browsers get no Basic challenge (it would pop up the browser's own dialog over our pages).
      const fromPage = await fetch(`${url}/api/jobs`, { headers: { 'Sec-Fetch-Site': 'same-origin' } });
      assert.equal(fromPage.status, 401);
      assert.doesNotMatch(fromPage.headers.get('www-authenticate') ?? '', /Basic/);

      const page = await fetch(`${url}/files?sort=new`, {
        headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
        redirect: 'manual',
      });
      assert.equal(page.status, 302);
      assert.equal(page.headers.get('location'), `/login?next=${encodeURIComponent('/files?sort=new')}`);

      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.notEqual((await fetch(`${url}/assets/nothing-here.js`)).status, 401);
      const link = await fetch(`${url}/d/not-a-valid-token`);
      assert.ok(link.status !== 401 && link.status !== 302, `signed links need no sign-in (got ${link.status})`);
    });
  });

  test(`roles: ingest can STOW but not read, read can read but not upload, admin can do both (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      const ingest = await addToken(db, 'pacs', ['ingest']);
      const read = await addToken(db, 'viewer', ['read']);
      const admin = await addToken(db, 'ops', ['admin']);

      assert.equal((await fetch(`${url}/dicomweb/studies`, stowRequest(bearer(ingest.token)))).status, 200);
      const denied = await fetch(`${url}/api/results`, { headers: bearer(ingest.token) });
      assert.equal(denied.status, 403);
      assert.match(((await denied.json()) as { error: string }).error, /token "pacs".*needs the read role.*has ingest/);
      assert.equal((await fetch(`${url}/dicomweb/studies`, { headers: bearer(ingest.token) })).status, 403);
      assert.equal((await fetch(`${url}/api/users`, { headers: bearer(ingest.token) })).status, 403);

      assert.equal((await fetch(`${url}/api/results`, { headers: bearer(read.token) })).status, 200);
      assert.equal((await fetch(`${url}/dicomweb/studies`, { headers: bearer(read.token) })).status, 200);
      assert.equal((await fetch(`${url}/api/jobs`, { headers: bearer(read.token) })).status, 200);
      const upload = new FormData();
      upload.append('files', new Blob([new Uint8Array(10)]), 'x.dcm');
      assert.equal(
        (await fetch(`${url}/api/uploads`, { method: 'POST', headers: bearer(read.token), body: upload })).status,
        403,
      );
      assert.equal((await fetch(`${url}/dicomweb/studies`, stowRequest(bearer(read.token)))).status, 403);
      assert.equal((await fetch(`${url}/api/tokens`, { headers: bearer(read.token) })).status, 403);

      assert.equal((await fetch(`${url}/dicomweb/studies`, stowRequest(bearer(admin.token)))).status, 200);
      assert.equal((await fetch(`${url}/api/results`, { headers: bearer(admin.token) })).status, 200);
      assert.equal((await fetch(`${url}/api/users`, { headers: bearer(admin.token) })).status, 200);

      const denials = await db.query<{ actor: string; target: string }>(
        `SELECT actor, target FROM audit_log WHERE event = 'access-denied' ORDER BY id`,
      );
      assert.ok(denials.rows.some((r) => r.actor === 'token:pacs' && r.target === 'GET /api/results'));
    });
  });

  test(`Bearer and Basic (token:<token> and user:password); revoked, expired and wrong credentials refused (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      const read = await addToken(db, 'viewer', ['read']);
      await addUser(db, 'radiology', 'correct horse battery', ['read']);

      assert.equal((await fetch(`${url}/api/jobs`, { headers: basic('token', read.token) })).status, 200);
      assert.equal(
        (await fetch(`${url}/api/jobs`, { headers: basic('radiology', 'correct horse battery') })).status,
        200,
      );
      assert.equal(
        (await fetch(`${url}/api/jobs`, { headers: basic('Radiology', 'correct horse battery') })).status,
        200,
        'user names ignore case',
      );
      assert.equal(
        (await fetch(`${url}/api/jobs`, { headers: basic('radiology', 'wrong horse battery') })).status,
        401,
      );
      assert.equal((await fetch(`${url}/api/jobs`, { headers: bearer(`${read.token}x`) })).status, 401);
      assert.equal((await fetch(`${url}/api/jobs`, { headers: { Authorization: 'Digest foo' } })).status, 401);

      const me = (await (await fetch(`${url}/api/me`, { headers: bearer(read.token) })).json()) as {
        kind: string;
        name: string;
        roles: string[];
      };
      assert.deepEqual([me.kind, me.name, me.roles], ['token', 'viewer', ['read']]);

      const expired = await addToken(db, 'old', ['read'], new Date(Date.now() + 60_000));
      assert.equal((await fetch(`${url}/api/jobs`, { headers: bearer(expired.token) })).status, 200);
      await db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.id]);
      const res = await fetch(`${url}/api/jobs`, { headers: bearer(expired.token) });
      assert.equal(res.status, 401);
      assert.match(((await res.json()) as { error: string }).error, /expired/);

      const admin = await addToken(db, 'ops', ['admin']);
      assert.equal(
        (await fetch(`${url}/api/tokens/${read.id}`, { method: 'DELETE', headers: bearer(admin.token) })).status,
        200,
      );
      const revoked = await fetch(`${url}/api/jobs`, { headers: bearer(read.token) });
      assert.equal(revoked.status, 401);
      assert.match(((await revoked.json()) as { error: string }).error, /not valid/);

      const stored = await db.query<{ token_hash: string }>('SELECT token_hash FROM api_tokens');
      for (const row of stored.rows)
        assert.ok(!row.token_hash.includes('agt_') && row.token_hash.length === 64, 'only hashes are stored');
    });
  });

  test(`sign-in: session cookie flags, CSRF needed for session writes but not for bearer, sign-out (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      await addUser(db, 'surgeon', 'a long enough password', ['read', 'ingest']);

      const bad = await login(url, 'surgeon', 'not the password');
      assert.equal(bad.response.status, 401);
      assert.equal(bad.setCookies.length, 0);

      const s = await login(url, 'surgeon', 'a long enough password');
      assert.equal(s.response.status, 200);
      const session = s.setCookies.find((c) => c.startsWith('ag_session='));
      const csrfCookie = s.setCookies.find((c) => c.startsWith('ag_csrf='));
      assert.ok(session && csrfCookie, s.setCookies.join(' | '));
      assert.match(session, /; httponly/i);
      assert.match(session, /; samesite=lax/i);
      assert.match(session, /; path=\//i);
      assert.doesNotMatch(session, /; secure/i, 'Secure only under TLS');
      assert.doesNotMatch(csrfCookie, /httponly/i, 'the pages read the CSRF cookie');
      assert.equal(csrfCookie.split(';')[0].slice('ag_csrf='.length), s.csrf);

      const sessionId = session.split(';')[0].slice('ag_session='.length);
      const rows = await db.query<{ id_hash: string; expires_at: Date }>('SELECT id_hash, expires_at FROM sessions');
      assert.equal(rows.rows.length, 1);
      assert.notEqual(rows.rows[0].id_hash, sessionId, 'the session id is stored hashed');
      const ttl = new Date(rows.rows[0].expires_at).getTime() - Date.now();
      assert.ok(ttl > 11 * 3600_000 && ttl <= 12 * 3600_000 + 5000, `expires in ${ttl} ms`);

      const me = (await (await fetch(`${url}/api/me`, { headers: { Cookie: s.cookie } })).json()) as {
        username: string;
        roles: string[];
        csrfToken: string;
      };
      assert.equal(me.username, 'surgeon');
      assert.equal(me.csrfToken, s.csrf);
      assert.equal((await fetch(`${url}/api/jobs`, { headers: { Cookie: s.cookie } })).status, 200);

      const job = await deps.queue.add('process', {
        name: 'x',
        input: { kind: 'dicom-series', files: [], studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4' },
      });
      const cancel = (headers: Record<string, string>) =>
        fetch(`${url}/api/jobs/${job.id}/cancel`, { method: 'POST', headers });
      const missing = await cancel({ Cookie: s.cookie });
      assert.equal(missing.status, 403);
      assert.match(((await missing.json()) as { error: string }).error, /X-CSRF-Token/);
      assert.equal((await cancel({ Cookie: s.cookie, 'X-CSRF-Token': `${s.csrf}x` })).status, 403);
      assert.equal((await cancel({ Cookie: s.cookie, 'X-CSRF-Token': s.csrf })).status, 202);
      assert.equal((await deps.queue.get(job.id))?.state, 'cancelled');

      const ingest = await addToken(db, 'pacs', ['ingest']);
      const retry = await fetch(`${url}/api/jobs/${job.id}/retry`, { method: 'POST', headers: bearer(ingest.token) });
      assert.equal(retry.status, 202, 'bearer requests need no CSRF token');

      assert.equal(
        (await fetch(`${url}/api/logout`, { method: 'POST', headers: { Cookie: s.cookie } })).status,
        403,
        'sign-out needs the CSRF token too',
      );
      assert.equal(
        (await fetch(`${url}/api/logout`, { method: 'POST', headers: { Cookie: s.cookie, 'X-CSRF-Token': s.csrf } }))
          .status,
        204,
      );
      assert.equal(
        (await fetch(`${url}/api/jobs`, { headers: { Cookie: s.cookie } })).status,
        401,
        'the session is gone',
      );
      assert.equal((await db.query('SELECT 1 FROM sessions')).rows.length, 0);
    });
  });

  test(`sign-in attempts are rate limited per address with 429 and Retry-After (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on', LOGIN_MAX_FAILURES: '3' });
      const { url } = await startTestServer(deps, t);
      await addUser(db, 'tech', 'the right password', ['read']);
      for (let i = 0; i < 3; i++) assert.equal((await login(url, 'tech', `wrong ${i}`)).response.status, 401);
      const blocked = await login(url, 'tech', 'the right password');
      assert.equal(blocked.response.status, 429);
      const retryAfter = Number(blocked.response.headers.get('retry-after'));
      assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After ${retryAfter}`);
      // Basic user:password is the same door.
      assert.equal((await fetch(`${url}/api/jobs`, { headers: basic('tech', 'the right password') })).status, 429);
      const failures = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_log WHERE event = 'login' AND outcome = 'failure'`,
      );
      assert.equal(failures.rows[0].n, 4);
    });
  });

  test(`admin API: users and tokens, shown once, password reset ends sessions, last admin kept (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      const adminId = await addUser(db, 'chief', 'chief password 1', ['admin']);
      const a = await login(url, 'chief', 'chief password 1');
      const h = { Cookie: a.cookie, 'X-CSRF-Token': a.csrf, 'Content-Type': 'application/json' };

      const created = await fetch(`${url}/api/users`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ username: 'resident', roles: ['read', 'ingest'] }),
      });
      assert.equal(created.status, 201);
      const user = (await created.json()) as { id: string; password: string; roles: string[] };
      assert.deepEqual(user.roles, ['ingest', 'read']);
      assert.ok(user.password.length >= 16, 'a generated password is returned once');
      assert.equal(
        (
          await fetch(`${url}/api/users`, {
            method: 'POST',
            headers: h,
            body: JSON.stringify({ username: 'RESIDENT', roles: ['read'], password: 'another password' }),
          })
        ).status,
        409,
      );
      assert.equal(
        (
          await fetch(`${url}/api/users`, {
            method: 'POST',
            headers: h,
            body: JSON.stringify({ username: 'x', roles: ['root'], password: 'another password' }),
          })
        ).status,
        400,
      );
      assert.equal(
        (
          await fetch(`${url}/api/users`, {
            method: 'POST',
            headers: h,
            body: JSON.stringify({ username: 'y', roles: ['read'], password: 'short' }),
          })
        ).status,
        400,
      );
      const list = (await (await fetch(`${url}/api/users`, { headers: h })).json()) as Array<Record<string, unknown>>;
      assert.deepEqual(
        list.map((u) => u.username),
        ['chief', 'resident'],
      );
      assert.ok(list.every((u) => !('passwordHash' in u) && !('password_hash' in u)));

      const r = await login(url, 'resident', user.password);
      assert.equal(r.response.status, 200);
      const reset = await fetch(`${url}/api/users/${user.id}/password`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ password: 'a brand new password' }),
      });
      assert.equal(reset.status, 200);
      assert.equal(((await reset.json()) as { sessionsEnded: number }).sessionsEnded, 1);
      assert.equal(
        (await fetch(`${url}/api/me`, { headers: { Cookie: r.cookie } })).status,
        401,
        'their session ended',
      );
      assert.equal((await login(url, 'resident', user.password)).response.status, 401);
      assert.equal((await login(url, 'resident', 'a brand new password')).response.status, 200);

      const tok = await fetch(`${url}/api/tokens`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ name: 'CT scanner 2', role: 'ingest', expiresInDays: 30 }),
      });
      assert.equal(tok.status, 201);
      const t1 = (await tok.json()) as { id: string; token: string; expiresAt: string };
      assert.match(t1.token, /^agt_[A-Za-z0-9_-]{43}$/);
      const tokens = (await (await fetch(`${url}/api/tokens`, { headers: h })).json()) as Array<
        Record<string, unknown>
      >;
      assert.equal(tokens.length, 1);
      assert.ok(!JSON.stringify(tokens).includes(t1.token), 'the token is never listed');
      assert.equal(
        (
          await fetch(`${url}/api/tokens`, {
            method: 'POST',
            headers: h,
            body: JSON.stringify({ name: 'z', role: 'read', expiresAt: '2001-01-01T00:00:00Z' }),
          })
        ).status,
        400,
      );

      const last = await fetch(`${url}/api/users/${adminId}`, { method: 'DELETE', headers: h });
      assert.equal(last.status, 409);
      assert.equal((await fetch(`${url}/api/users/${user.id}`, { method: 'DELETE', headers: h })).status, 200);
      assert.equal((await fetch(`${url}/api/users/not-a-uuid`, { method: 'DELETE', headers: h })).status, 404);

      const audit = (await (await fetch(`${url}/api/audit?limit=100`, { headers: h })).json()) as {
        events: Array<{ event: string; outcome: string; actor: string | null; target: string | null }>;
      };
      const seen = new Set(audit.events.map((e) => `${e.event}:${e.outcome}`));
      for (const e of [
        'login:success',
        'login:failure',
        'user-create:success',
        'user-password:success',
        'token-create:success',
        'user-delete:success',
      ])
        assert.ok(seen.has(e), e);
      assert.ok(audit.events.filter((e) => e.event === 'user-create').every((e) => e.actor === 'user:chief'));
      assert.equal((await fetch(`${url}/api/audit?event=nonsense`, { headers: h })).status, 400);
    });
  });

  test(`audit rows for upload, STOW and downloads, with no patient data; signed links work without sign-in (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { url } = await startTestServer(deps, t);
      const both = await addToken(db, 'lab', ['ingest', 'read']);

      assert.equal((await fetch(`${url}/dicomweb/studies`, stowRequest(bearer(both.token)))).status, 200);
      const form = new FormData();
      form.append(
        'files',
        new Blob([new Uint8Array(syntheticDicomSliceBuffers(ct, { patientName: 'Doe^Jane' })[1])]),
        'Doe_Jane.dcm',
      );
      assert.equal(
        (await fetch(`${url}/api/uploads`, { method: 'POST', headers: bearer(both.token), body: form })).status,
        200,
      );

      const r = await insertResult(db, deps.dataDir, {
        name: 'Doe_Jane CT',
        files: { 'Doe_Jane CT.glb': Buffer.from('glTF-bytes') },
      });
      const fileUrl = `/api/results/${r.id}/files/${encodeURIComponent('Doe_Jane CT.glb')}`;
      assert.equal((await fetch(`${url}${fileUrl}`, { headers: bearer(both.token) })).status, 200);
      const linkRes = await fetch(`${url}/api/downloads`, {
        method: 'POST',
        headers: { ...bearer(both.token), 'Content-Type': 'application/json' },
        body: JSON.stringify({ files: [fileUrl] }),
      });
      assert.equal(linkRes.status, 200);
      const path = new URL(((await linkRes.json()) as { url: string }).url).pathname;
      // A phone with no session and no token.
      assert.equal((await fetch(`${url}${path}`)).status, 200);
      const one = await fetch(`${url}${path}/files/0`);
      assert.equal(one.status, 200);
      assert.equal(Buffer.from(await one.arrayBuffer()).toString(), 'glTF-bytes');
      const zip = await fetch(`${url}${path}/zip`);
      assert.equal(zip.status, 200);
      await zip.arrayBuffer();

      const { rows } = await db.query<{
        event: string;
        actor: string | null;
        address: string | null;
        target: string | null;
        details: unknown;
      }>('SELECT event, actor, address, target, details FROM audit_log ORDER BY id');
      const events = rows.map((row) => row.event);
      for (const e of ['stow', 'upload', 'download-file', 'download-link', 'download-link-file', 'download-zip'])
        assert.ok(events.includes(e), `${e} in ${events.join(',')}`);
      const upload = rows.find((row) => row.event === 'upload');
      assert.equal(upload?.actor, 'token:lab');
      assert.match(upload?.address ?? '', /127\.0\.0\.1/);
      assert.equal(rows.find((row) => row.event === 'download-file')?.target, r.id);
      const everything = JSON.stringify(rows);
      assert.doesNotMatch(everything, /Doe|Jane/i, 'no patient names (nor names derived from them) in the audit log');
    });
  });
}

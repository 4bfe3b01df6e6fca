import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { requireOrSkip } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { addUser, login } from '../support/auth.ts';
import { buildWeb } from '../../scripts/build-web.ts';
import { listUsers } from '../../server/auth/store.ts';
import { listen } from './fixtures.ts';

// As in pages.e2e.test.ts (importing that file would run its tests here too).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

test('in Chromium: an admin manages users, roles and tokens on /admin and changes their password from the header', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  const webDist = await mkdtemp(join(tmpdir(), 'ag-web-admin-'));
  t.after(() => rm(webDist, { recursive: true, force: true }));
  await buildWeb({ outDir: webDist, minify: false });
  await withTestDatabase('pglite', t, async (db) => {
    const deps = { ...(await testAppDeps(db, t, { AUTH: 'on' })), webDist };
    await addUser(db, 'chief', 'chief password 123', ['admin']);
    await addUser(db, 'lab', 'lab password 123', ['read']);
    const { base } = await listen(t, deps);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    page.on('dialog', (d) => void d.accept());

    await page.goto(`${base}/login?next=/admin`);
    const form = page.locator('ag-login-form');
    // No initial-admin-password.txt here: the page does not point to it.
    await form.locator('.hint', { hasText: 'Ask an administrator' }).waitFor();
    await form.locator('input[name="username"]').fill('chief');
    await form.locator('input[name="password"]').fill('chief password 123');
    await Promise.all([page.waitForURL(`${base}/admin`), form.locator('button[type="submit"]').click()]);
    const admin = page.locator('ag-user-admin');
    await admin.locator('tr[data-user="lab"]').waitFor();
    await page.locator('ag-app-header a[aria-current="page"]', { hasText: 'Users & tokens' }).waitFor();

    // A new user with a generated password, shown once.
    const newUser = admin.locator('form.create').first();
    await newUser.locator('input[name="username"]').fill('nurse');
    await newUser.locator('button[type="submit"]').click();
    await admin.locator('.secret', { hasText: 'Password of "nurse"' }).waitFor();
    const generated = (await admin.locator('.secret code').innerText()).trim();
    assert.equal((await login(base, 'nurse', generated)).response.status, 200);

    // Roles of an existing user.
    const lab = admin.locator('tr[data-user="lab"]');
    await lab.locator('input[value="ingest"]').check();
    await lab.locator('button', { hasText: 'Save roles' }).click();
    await admin.locator('.ok', { hasText: 'Roles of "lab": ingest, read.' }).waitFor();
    assert.deepEqual((await listUsers(db)).find((u) => u.username === 'lab')?.roles, ['ingest', 'read']);

    // A token, shown once, that works.
    const newToken = admin.locator('form.create').nth(1);
    await newToken.locator('input[name="name"]').fill('PACS north');
    await newToken.locator('button[type="submit"]').click();
    const token = (await admin.locator('.secret code').innerText()).trim();
    assert.match(token, /^agt_/);
    const jobs = await fetch(`${base}/api/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(jobs.status, 415, 'the token passes access control (ingest) and reaches the upload route');
    await admin.locator('tr', { hasText: 'PACS north' }).locator('button', { hasText: 'Revoke' }).click();
    await admin.locator('.ok', { hasText: 'Token "PACS north" revoked.' }).waitFor();

    // Change password from the header.
    await page.locator('ag-app-header .account button', { hasText: 'Change password' }).click();
    const dialog = page.locator('ag-password-dialog');
    await dialog.locator('input[name="current"]').fill('chief password 123');
    await dialog.locator('input[name="next"]').fill('a brand new chief password');
    await dialog.locator('input[name="again"]').fill('a brand new chief password');
    await dialog.locator('button[type="submit"]').click();
    await dialog.locator('.ok').waitFor();
    assert.equal((await login(base, 'chief', 'a brand new chief password')).response.status, 200);
    await dialog.locator('button', { hasText: 'Close' }).last().click();

    await Promise.all([
      page.waitForURL(/\/login/),
      page.locator('ag-app-header .account button', { hasText: 'Sign out' }).click(),
    ]);
    assert.deepEqual(errors, []);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireOrSkip } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { addUser } from '../support/auth.ts';
import { buildWeb } from '../../scripts/build-web.ts';
import { listen } from './fixtures.ts';

// As in pages.e2e.test.ts (importing that file would run its tests here too).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function watchConsole(page: Page, expected: RegExp[]): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((e) => e.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

test('in Chromium with AUTH on: a page sends you to sign in and back; the upload carries the CSRF token', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  // Its own build: other browser tests rebuild dist/web while this one runs.
  const webDist = await mkdtemp(join(tmpdir(), 'ag-web-login-'));
  t.after(() => rm(webDist, { recursive: true, force: true }));
  await buildWeb({ outDir: webDist, minify: false });
  await withTestDatabase('pglite', t, async (db) => {
    const deps = { ...(await testAppDeps(db, t, { AUTH: 'on' })), webDist };
    await addUser(db, 'lab', 'lab password 123', ['ingest', 'read']);
    const { base } = await listen(t, deps);
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    const page = await browser.newPage();
    // Chromium reports the refused sign-in (401) and the rejected non-scan upload (422) as console errors.
    const errors = watchConsole(page, [/status of 401/, /status of 422/]);

    await page.goto(`${base}/files`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/files');

    const form = page.locator('ag-login-form');
    await form.locator('input[name="username"]').fill('lab');
    await form.locator('input[name="password"]').fill('not it at all');
    await form.locator('button[type="submit"]').click();
    await form.locator('[role="alert"]').waitFor();
    assert.equal(await form.locator('[role="alert"]').innerText(), 'Wrong user name or password.');

    await form.locator('input[name="password"]').fill('lab password 123');
    await Promise.all([page.waitForURL(`${base}/files`), form.locator('button[type="submit"]').click()]);
    const cookies = await page.context().cookies();
    assert.equal(cookies.find((c) => c.name === 'ag_session')?.httpOnly, true);

    await page.goto(`${base}/`);
    await page
      .locator('ag-upload-panel input#files')
      .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') });
    const outcome = page.locator('ag-upload-panel .file[data-state="rejected"] .file-outcome');
    await outcome.waitFor({ timeout: 15_000 });
    // Rejected for what it is (not a scan), not refused for a missing CSRF token (403).
    assert.match(await outcome.innerText(), /^Rejected: .{5,}/);
    assert.doesNotMatch(await outcome.innerText(), /CSRF/);
    const { rows } = await db.query<{ actor: string }>(`SELECT actor FROM audit_log WHERE event = 'upload'`);
    assert.deepEqual(
      rows.map((r) => r.actor),
      ['user:lab'],
    );
    assert.deepEqual(errors, [], 'no console errors (CSP violations show up here)');
  });
});

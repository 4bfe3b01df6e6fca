import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { requireOrSkip } from '../support/requirements.ts';
import { insertJob, insertResult, listen, ownWebBuild, sampleGlb } from './fixtures.ts';

// As pages.e2e.test.ts (imported from there, its own test would run here too).
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--enable-unsafe-swiftshader'];

/** Whose scan: the queue and the files page show one name per job and result, and the files page searches and sorts. */

const PEOPLE = [
  { name: 'Doe^Jane', id: 'P-0042', date: '20240301', series: 'CT Body 3.0' },
  { name: 'Roe^Richard', id: 'P-0007', date: '20231111', series: 'Thorax 1.5' },
  { name: 'Moe^Anna', id: 'P-0100', date: '20220505', series: 'Abdomen' },
];

test('queue and files page show the same patient display name; the files page finds by patient and sorts', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  const webDist = await ownWebBuild(t);
  await withTestDatabase('pglite', t, async (db) => {
    const deps = { ...(await testAppDeps(db, t)), webDist };
    const glb = await sampleGlb();
    for (const [i, p] of PEOPLE.entries()) {
      const jobId = await insertJob(db, { state: 'succeeded', engine: 'builtin', seriesDescription: p.series });
      const r = await insertResult(db, deps.dataDir, {
        name: `series_${i}`,
        jobId,
        files: { [`series_${i}.glb`]: glb },
        segments: [{ label: 1, name: 'liver' }],
      });
      await db.query(
        `UPDATE results SET patient_name = $2, patient_id = $3, study_date = $4, modality = 'CT', series_description = $5
          WHERE id = $1`,
        [r.id, p.name, p.id, p.date, p.series],
      );
    }
    const { base } = await listen(t, deps);
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${base}/`);
    const queued = page.locator('ag-job-queue li.job .name');
    await queued.nth(2).waitFor();
    const queueNames = (await queued.allInnerTexts()).map((s) => s.trim()).sort();
    assert.deepEqual(queueNames, [
      'Doe, Jane · CT Body 3.0 · 2024-03-01',
      'Moe, Anna · Abdomen · 2022-05-05',
      'Roe, Richard · Thorax 1.5 · 2023-11-11',
    ]);
    assert.match(await page.locator('ag-job-queue li.job').first().innerText(), /ID P-0\d+ · CT/);

    await page.goto(`${base}/files`);
    const headings = page.locator('ag-results-list li.result h2');
    await headings.nth(2).waitFor();
    assert.deepEqual((await headings.allInnerTexts()).map((s) => s.trim()).sort(), queueNames, 'the same names');

    const search = page.getByRole('searchbox');
    await search.fill('jane');
    await page.waitForFunction(
      () => document.querySelector('ag-results-list')?.shadowRoot?.querySelectorAll('li.result').length === 1,
    );
    assert.equal((await headings.allInnerTexts())[0], 'Doe, Jane · CT Body 3.0 · 2024-03-01');
    await search.fill('P-0007');
    await page.waitForFunction(() =>
      document
        .querySelector('ag-results-list')
        ?.shadowRoot?.querySelector('li.result h2')
        ?.textContent?.includes('Roe'),
    );
    await search.fill('nobody-like-this');
    await page.getByText('No results match').waitFor();
    await page.getByRole('button', { name: 'Clear the search' }).click();
    await headings.nth(2).waitFor();

    await page.getByLabel('Sort by').selectOption({ label: 'Patient ID' });
    await page.waitForFunction(() =>
      document
        .querySelector('ag-results-list')
        ?.shadowRoot?.querySelector('li.result h2')
        ?.textContent?.startsWith('Roe'),
    );
    assert.deepEqual(
      (await headings.allInnerTexts()).map((s) => s.split(',')[0]),
      ['Roe', 'Doe', 'Moe'],
    );
    await page.getByLabel('Sort by').selectOption({ label: 'Study date, newest first' });
    await page.waitForFunction(() =>
      document
        .querySelector('ag-results-list')
        ?.shadowRoot?.querySelector('li.result h2')
        ?.textContent?.startsWith('Doe'),
    );
    assert.deepEqual(
      (await headings.allInnerTexts()).map((s) => s.split(',')[0]),
      ['Doe', 'Roe', 'Moe'],
    );
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'files-sorted-by-study-date.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { chromium, type Page } from 'playwright-core';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { readZip } from '../../server/downloads/zipStream.test.ts';
import { uniqueEntryNames } from '../../server/downloads/zipStream.ts';
import { relayJobChanges } from '../../server/app/relayJobChanges.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { listen, ownWebBuild } from './fixtures.ts';
import { CHROMIUM, CHROMIUM_ARGS, SOFTWARE_WEBGL_NOTICE } from './pages.e2e.test.ts';

const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && !SOFTWARE_WEBGL_NOTICE.test(m.text()) && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

test('full flow: NIfTI and a DICOM folder uploaded through the page reach done over SSE, preview, QR zip of two files', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  if (!requireTestData(t)) return;
  const webDist = await ownWebBuild(t);
  const nifti = testDataPath('nifti', 'totalsegmentator', 'example_ct_sm.nii.gz');
  const dicomDir = testDataPath('derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_uncompressed');
  const dicomFiles = readdirSync(dicomDir)
    .sort()
    .map((f) => join(dicomDir, f));

  await withTestDatabase('pglite', t, async (db) => {
    const deps = { ...(await testAppDeps(db, t, { ENGINE: 'builtin', SERIES_STABLE_SECONDS: '1' })), webDist };
    // As `serve` does: job changes from the worker reach the SSE stream through NOTIFY.
    const unlisten = await relayJobChanges(db, deps.events);
    const worker = new Worker({
      db,
      queue: deps.queue,
      tasks: taskList(deps),
      logger: deps.logger,
      concurrency: 2,
      pollIntervalMs: 200,
    });
    await worker.start();
    const { base } = await listen(t, deps);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    // Stopped before the database closes (t.after would run too late).
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 2 });
      const errors = consoleErrors(page);
      await page.goto(`${base}/`);
      await page.locator('ag-job-queue .connection[data-state="live"]').waitFor();
      await page.locator('ag-upload-panel input#files').setInputFiles([nifti, ...dicomFiles]);
      await page
        .locator('ag-upload-panel .summary', { hasText: `${dicomFiles.length + 1} files done` })
        .waitFor({ timeout: 60_000 });
      // Accepted, then following their jobs (queued, processing, done): none rejected or failed.
      assert.equal(
        await page.locator('ag-upload-panel .file:not([data-state="rejected"]):not([data-state="failed"])').count(),
        dicomFiles.length + 1,
      );

      // Both series appear and finish, pushed over SSE (the page never reloads).
      await page.locator('ag-job-queue li.job').nth(1).waitFor({ timeout: 30_000 });
      await page
        .waitForFunction(
          () =>
            document.querySelector('ag-job-queue')?.shadowRoot?.querySelectorAll('li.job[data-state="succeeded"]')
              .length === 2,
          undefined,
          { timeout: 80_000, polling: 500 },
        )
        .catch(async (e: unknown) => {
          const text = await page.evaluate(() =>
            document.querySelector('ag-job-queue')?.shadowRoot?.textContent?.replace(/\s+/g, ' '),
          );
          throw new Error(`both jobs did not reach done; the queue shows: ${text}`, { cause: e });
        });
      assert.deepEqual(errors, []);

      await page.goto(`${base}/files`);
      const results = page.locator('ag-results-list li.result');
      await results.nth(1).waitFor();
      assert.equal(await results.count(), 2);
      await page.evaluate(() => {
        (window as unknown as { loaded: Promise<unknown> }).loaded = new Promise((resolve, reject) => {
          document.addEventListener('ag-preview-load', (e) => resolve((e as CustomEvent).detail));
          document.addEventListener('ag-preview-error', (e) =>
            reject(new Error((e as CustomEvent<{ message: string }>).detail.message)),
          );
        });
      });
      await results.nth(0).locator('button.preview').click();
      const loaded = (await page.evaluate(() => (window as unknown as { loaded: Promise<unknown> }).loaded)) as {
        structures: number;
      };
      assert.ok(loaded.structures >= 1, 'the preview lists structures');
      await page.keyboard.press('Escape');

      // One .glb of each result.
      const picked: Array<{ resultId: string; name: string }> = [];
      for (const i of [0, 1]) {
        const row = results.nth(i);
        const resultId = (await row.getAttribute('data-result')) as string;
        const file = row.locator('li.file', { hasText: '.glb' }).first();
        picked.push({ resultId, name: (await file.locator('label').innerText()).trim() });
        await file.locator('input').check();
      }
      await page.locator('ag-results-list button', { hasText: 'Generate QR code' }).click();
      const qr = page.locator('ag-qr-dialog img.qr');
      await qr.waitFor();
      const png = PNG.sync.read(await qr.screenshot());
      const decoded = jsQR(
        new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length),
        png.width,
        png.height,
      );
      assert.ok(decoded, 'the QR code decodes');
      const zip = await fetch(`${base}${new URL(decoded.data).pathname}/zip`);
      assert.equal(zip.status, 200);
      const entries = await readZip(Buffer.from(await zip.arrayBuffer()));
      // Zip order is list order; two results may name their model alike, and the zip keeps both.
      assert.deepEqual(
        entries.map((e) => e.name),
        uniqueEntryNames(picked.map((p) => p.name)),
      );
      for (const [i, p] of picked.entries()) {
        const onDisk = await readFile(join(deps.dataDir, 'results', p.resultId, p.name));
        assert.ok(entries[i].data.equals(onDisk), `${p.name} of result ${p.resultId} is byte-identical`);
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await worker.stop(2000);
      await unlisten();
    }
  });
});

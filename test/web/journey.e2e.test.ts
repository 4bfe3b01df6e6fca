import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { addUser } from '../support/auth.ts';
import { buildWeb } from '../../scripts/build-web.ts';
import { relayJobChanges } from '../../server/app/relayJobChanges.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { listen } from './fixtures.ts';

// As in pages.e2e.test.ts (importing that file would run its tests here too).
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Records, from inside the page, when the queue first shows a series "receiving", a job queued and a job done (a
 * string: the test runner's transform would add helpers the page does not have).
 */
const WATCH_QUEUE = `(() => {
  window.seen = {};
  const look = () => {
    const root = document.querySelector('ag-job-queue')?.shadowRoot;
    const receiving = root?.querySelector('li[data-state="receiving"]');
    if (receiving && window.seen.receiving === undefined) {
      window.seen.receiving = performance.now();
      window.receivingText = receiving.textContent.replace(/\\s+/g, ' ').trim();
    }
    if (root?.querySelector('li.job[data-state="queued"], li.job[data-state="running"]'))
      window.seen.queued ??= performance.now();
    if (root?.querySelector('li.job[data-state="succeeded"]')) window.seen.done ??= performance.now();
    if (window.seen.done === undefined) requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})()`;

const PREVIEW_EVENTS = `(() => {
  const once = (ok, bad) =>
    new Promise((resolve, reject) => {
      document.addEventListener(ok, (e) => resolve(e.detail));
      if (bad) document.addEventListener(bad, (e) => reject(new Error(e.detail.message)));
    });
  window.preview = once('ag-preview-load', 'ag-preview-error');
  window.slices = once('ag-slices-load');
})()`;

/**
 * Pixels tinted warm (red clearly above blue): the grey scan has none, the blue crosshair neither; the label map's
 * colours (body, bone: warm tones) make them.
 */
function warmPixels(png: PNG): number {
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] - png.data[i + 2] > 25) n++;
  return n;
}

test('in Chromium: sign in, upload a DICOM folder, see it receiving at once and done, find it by patient name, preview it in 3D and in slices, sign out', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  if (!requireTestData(t)) return;
  const dicomDir = testDataPath('derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_uncompressed');
  // Its own build: other browser tests rebuild dist/web while this one runs.
  const webDist = await mkdtemp(join(tmpdir(), 'ag-web-journey-'));
  t.after(() => rm(webDist, { recursive: true, force: true }));
  await buildWeb({ outDir: webDist });

  await withTestDatabase('pglite', t, async (db) => {
    // The default quiet period: the page must not wait for it.
    const deps = { ...(await testAppDeps(db, t, { AUTH: 'on', ENGINE: 'builtin' })), webDist };
    assert.equal(deps.config.seriesStableSeconds, 10);
    await addUser(db, 'lab', 'lab password 123', ['ingest', 'read']);
    // As `serve` does: job changes from the worker reach the SSE stream through NOTIFY.
    const unlisten = await relayJobChanges(db, deps.events);
    const worker = new Worker({
      db,
      queue: deps.queue,
      tasks: taskList(deps),
      logger: deps.logger,
      concurrency: 1,
      pollIntervalMs: 1000,
    });
    await worker.start();
    const { base } = await listen(t, deps);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      // NiiVue's gradient shaders may fail on software WebGL (see SOFTWARE_WEBGL_NOTICE in pages.e2e.test.ts).
      page.on(
        'console',
        (m) => m.type() === 'error' && !/^niivue-error (blur|sobel) shader/.test(m.text()) && errors.push(m.text()),
      );
      page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));

      // Sign in.
      await page.goto(`${base}/`);
      assert.equal(new URL(page.url()).pathname, '/login');
      const form = page.locator('ag-login-form');
      await form.locator('input[name="username"]').fill('lab');
      await form.locator('input[name="password"]').fill('lab password 123');
      await Promise.all([page.waitForURL(`${base}/`), form.locator('button[type="submit"]').click()]);
      await page.locator('ag-app-header .account', { hasText: 'lab' }).waitFor();
      await page.locator('ag-job-queue .connection[data-state="live"]').waitFor();

      // Upload the folder; the queue shows it receiving within a second, and done within the target.
      await page.evaluate(WATCH_QUEUE);
      const dropped = await page.evaluate(() => performance.now());
      await page.locator('ag-upload-panel input#folder').setInputFiles(dicomDir);
      await page
        .waitForFunction(() => (window as unknown as { seen: { done?: number } }).seen.done !== undefined, undefined, {
          timeout: 60_000,
        })
        .catch(async (e: unknown) => {
          const text = await page.evaluate(() =>
            document.querySelector('ag-job-queue')?.shadowRoot?.textContent?.replace(/\s+/g, ' '),
          );
          throw new Error(`the job did not reach done; the queue shows: ${text}`, { cause: e });
        });
      const { receiving, queued, done } = await page.evaluate(
        () => (window as unknown as { seen: Record<string, number> }).seen,
      );
      const { rows: timing } = await db.query<{ waited: number; ran: number }>(
        `SELECT extract(epoch FROM started_at - created_at) * 1000 AS waited,
                extract(epoch FROM finished_at - started_at) * 1000 AS ran FROM jobs WHERE kind = 'process'`,
      );
      const receivingText = await page.evaluate(() => (window as unknown as { receivingText?: string }).receivingText);
      process.stdout.write(
        `# drop to receiving ${Math.round(receiving - dropped)} ms, queued ${Math.round(queued - dropped)} ms, done ${Math.round(done - dropped)} ms; ` +
          `job waited ${Math.round(Number(timing[0]?.waited))} ms for a worker, ran ${Math.round(Number(timing[0]?.ran))} ms (${receivingText})\n`,
      );
      assert.ok(receiving !== undefined, 'the series was shown as receiving');
      assert.match(receivingText ?? '', /receiving · \d+ images? · (starts in \d+ s|starting)/);
      assert.ok(receiving - dropped < 1000, `receiving shown ${Math.round(receiving - dropped)} ms after the drop`);
      // Queued by the page's "all sent", not by the quiet period: the job is older than the timer's due time. (How
      // long drop to done takes is measured by `npm run bench -- upload`, not asserted here.)
      const { rows: made } = await db.query<{ early: boolean }>(
        `SELECT p.created_at < s.run_after AS early FROM jobs p, jobs s
          WHERE p.kind = 'process' AND s.kind = 'series-stable'`,
      );
      assert.deepEqual(made, [{ early: true }]);

      // The upload says the batch was sent and queued, and its rows followed the job to done.
      const note = page.locator('ag-upload-panel .batch-note');
      assert.match(await note.innerText(), /All 20 files sent · 1 series queued/);
      await page.waitForFunction(
        () =>
          document.querySelector('ag-upload-panel')?.shadowRoot?.querySelectorAll('.file[data-state="job-succeeded"]')
            .length === 20,
      );

      // Found on the files page.
      await page.locator('ag-app-header a', { hasText: 'Files' }).click();
      // Found by patient name (the folder's Patient's Name is Example^TotalSegmentator).
      await page.locator('ag-results-list input[type="search"]').fill('TotalSegmentator');
      const result = page.locator('ag-results-list li.result', { hasText: /Example/ });
      await result.waitFor();
      assert.equal(await page.locator('ag-results-list li.result').count(), 1);
      await page.locator('ag-results-list input[type="search"]').fill('Nobody');
      await page.locator('ag-results-list', { hasText: 'No results match' }).waitFor();
      await page.locator('ag-results-list input[type="search"]').fill('totalsegmentator');
      await result.waitFor();

      // 3D preview with named structures, and the slice view with the label map over the scan.
      await page.evaluate(PREVIEW_EVENTS);
      await result.locator('button.preview').click();
      const preview = (await page.evaluate(() => (window as unknown as { preview: Promise<unknown> }).preview)) as {
        structures: number;
      };
      assert.ok(preview.structures >= 1);
      const names = await page.locator('ag-model-preview aside .seg-name').allInnerTexts();
      assert.equal(names.length, preview.structures);
      assert.ok(
        names.every((n) => !/^Structure \d+$/.test(n)),
        `structures are named: ${names}`,
      );
      const slices = (await page.evaluate(() => (window as unknown as { slices: Promise<unknown> }).slices)) as {
        labels: number;
      };
      assert.ok(slices.labels >= 1, 'the slice view colours the labels');
      const canvas = page.locator('ag-model-preview ag-slice-view canvas');
      // The overlay blends the labels' colours over the grey scan; hiding every structure takes them away.
      const tinted = async (): Promise<number> => {
        await page.waitForTimeout(300);
        return warmPixels(PNG.sync.read(await canvas.screenshot()));
      };
      const withLabels = await tinted();
      await page.locator('ag-model-preview aside button', { hasText: 'None' }).click();
      const withoutLabels = await tinted();
      process.stdout.write(`# tinted slice pixels: ${withLabels} with the labels shown, ${withoutLabels} hidden\n`);
      assert.ok(withLabels > 1000 && withoutLabels < withLabels / 20, 'hiding the structures hides their labels');

      // Tab from the close button reaches the structure list (no trap between Close and the canvas).
      await page.locator('ag-model-preview aside button', { hasText: 'All' }).click();
      await page.locator('ag-model-preview button.close').focus();
      let reached = false;
      for (let i = 0; i < 12 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await page.evaluate(() => {
          let el: Element | null = document.activeElement;
          while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
          return el instanceof HTMLInputElement && el.type === 'checkbox';
        });
      }
      assert.ok(reached, 'Tab reaches the structure checkboxes');
      await page.keyboard.press('Escape');

      // Deleting the result asks first, then it is gone from the list (and audited).
      page.once('dialog', (d) => void d.accept());
      await result.locator('button', { hasText: 'Delete' }).click();
      await result.waitFor({ state: 'detached' });
      const { rows: deleted } = await db.query(`SELECT 1 FROM audit_log WHERE event = 'result-delete'`);
      assert.equal(deleted.length, 1);

      // Sign out from the header: back to the sign-in page, and the pages ask for it again.
      await Promise.all([
        page.waitForURL(/\/login/),
        page.locator('ag-app-header button', { hasText: 'Sign out' }).click(),
      ]);
      await page.goto(`${base}/files`);
      assert.equal(new URL(page.url()).pathname, '/login');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await worker.stop(2000);
      await unlisten();
    }
  });
});

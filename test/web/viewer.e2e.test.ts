import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import dicomParser from 'dicom-parser';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { insertSegResult } from '../support/resultSeg.ts';
import { stowFolder } from '../support/wado.ts';
import { addUser, login } from '../support/auth.ts';
import { viewerStatus } from '../../server/viewer/viewerDist.ts';
import { listen } from './fixtures.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './pages.e2e.test.ts';

/** Standard deviation of the grey levels in a screenshot: a drawn CT slice is far from flat. */
function spread(png: Buffer): number {
  const img = PNG.sync.read(png);
  let sum = 0;
  let sq = 0;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const v = img.data[i * 4];
    sum += v;
    sq += v * v;
  }
  return Math.sqrt(sq / n - (sum / n) ** 2);
}

test(
  'the OHIF viewer at /viewer/ opens a stored CT from our DICOMweb with a session, draws it and shows our SEG over it',
  { timeout: 300_000 },
  async (t) => {
    if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
    if (!requireOrSkip(t, viewerStatus().available, `the OHIF viewer (${viewerStatus().reason})`)) return;
    if (!requireTestData(t)) return;
    await withTestDatabase('pglite', t, async (db) => {
      const deps = await testAppDeps(db, t, { AUTH: 'on' });
      const { base } = await listen(t, deps);
      await addUser(db, 'reader', 'reader-password-1', ['read', 'ingest']);
      const session = await login(base, 'reader', 'reader-password-1');
      // STOW as the signed-in user (the series is JPEG 2000: frames go to the browser as stored).
      const files = await stowFolder(base, testDataPath('derived_made_here/dicom/totalseg_torso_20sl_uids_j2k_4.90'), {
        Cookie: session.cookie,
        'X-CSRF-Token': session.csrf,
      });
      const head = dicomParser.parseDicom([...files.values()][0], { untilTag: 'x7fe00010' });
      const study = head.string('x0020000d') ?? '';
      const series = head.string('x0020000e') ?? '';
      const seg = await insertSegResult(db, deps.dataDir, study, series);

      const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      t.after(() => browser.close());
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const signedOut = await context.newPage();
      await signedOut.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${study}`);
      assert.match(new URL(signedOut.url()).pathname, /^\/login$/, 'the viewer needs a signed-in user');
      await signedOut.close();
      await context.addCookies(
        session.cookie.split('; ').map((c) => {
          const eq = c.indexOf('=');
          return { name: c.slice(0, eq), value: c.slice(eq + 1), url: base };
        }),
      );

      const page = await context.newPage();
      const csp: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const dicomweb: Array<{ path: string; status: number }> = [];
      page.on('response', (r) => {
        const u = new URL(r.url());
        if (u.pathname.startsWith('/dicomweb/')) dicomweb.push({ path: u.pathname, status: r.status() });
      });
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${study}`);
      const viewport = page.locator('[data-viewportid="default"] canvas').first();
      await viewport.waitFor({ timeout: 120_000 });
      // The slice is drawn once its frame has come in; poll the middle of the viewport (no overlays
      // there) until it is no longer flat.
      let drawn = 0;
      for (let i = 0; i < 90 && drawn < 20; i++) {
        await page.waitForTimeout(1000);
        const box = await viewport.boundingBox();
        if (!box) continue;
        const clip = {
          x: box.x + box.width * 0.3,
          y: box.y + box.height * 0.3,
          width: box.width * 0.4,
          height: box.height * 0.4,
        };
        drawn = spread(await page.screenshot({ clip }));
      }
      assert.ok(drawn >= 20, `the CT slice is drawn (grey-level spread ${drawn.toFixed(1)})`);
      const metadata = dicomweb.filter((d) => d.path === `/dicomweb/studies/${study}/series/${series}/metadata`);
      const frames = dicomweb.filter((d) => d.path.includes(`/series/${series}/`) && /\/frames\/\d+$/.test(d.path));
      assert.ok(metadata.length >= 1 && metadata.every((d) => d.status === 200), 'our series metadata answered 200');
      assert.ok(frames.length >= 1 && frames.every((d) => d.status === 200), `frames answered 200 (${frames.length})`);
      assert.deepEqual(
        dicomweb.filter((d) => d.status >= 400),
        [],
        'no DICOMweb request failed',
      );

      // Our SEG is in the study browser; opened, it is drawn over the CT with its segment listed.
      const segThumb = page
        .locator('[data-cy="series-description-label"]', { hasText: 'Segmentation (test threshold)' })
        .first();
      await segThumb.waitFor({ timeout: 60_000 });
      // The viewer's first-visit tour covers the page until it is dismissed.
      const skip = page.getByText('Skip all');
      if (await skip.isVisible()) await skip.click();
      await segThumb.dblclick();
      // The viewer previews the SEG over the CT (our segment colour, a salmon red, over grey) and asks
      // whether to open it for editing.
      await page.getByText('Do you want to open this Segmentation?').waitFor({ timeout: 120_000 });
      let coloured = 0;
      for (let i = 0; i < 30 && coloured < 200; i++) {
        const img = PNG.sync.read(await viewport.screenshot());
        coloured = 0;
        for (let p = 0; p < img.width * img.height; p++) {
          const [r, g, b] = [img.data[p * 4], img.data[p * 4 + 1], img.data[p * 4 + 2]];
          if (r > g + 60 && r > b + 60) coloured++;
        }
        if (coloured < 200) await page.waitForTimeout(1000);
      }
      assert.ok(coloured >= 200, `the SEG is drawn over the CT (${coloured} segment-coloured pixels)`);
      assert.ok(
        dicomweb.some((d) => d.path.includes(`/series/${seg.segSeriesUid}/`) && d.status === 200),
        'the SEG was retrieved from us',
      );
      assert.deepEqual(csp, [], 'no content security policy violation');
      assert.deepEqual(errors, [], 'no uncaught error in the viewer');

      // The queue and the files page link the processed series to the viewer.
      await db.query(
        `INSERT INTO jobs (kind, payload, state, progress, finished_at) VALUES ('process', $1::jsonb, 'succeeded', 100, now())`,
        [
          JSON.stringify({
            name: 'CT Body',
            input: { kind: 'dicom-series', files: [], studyInstanceUid: study, seriesInstanceUid: series },
          }),
        ],
      );
      const viewerHref = `/viewer/viewer?StudyInstanceUIDs=${study}`;
      const pages = await context.newPage();
      await pages.goto(`${base}/`);
      const queueLink = pages.locator('ag-job-queue a', { hasText: 'Open in viewer' });
      await queueLink.waitFor();
      assert.equal(await queueLink.getAttribute('href'), viewerHref);
      await pages.goto(`${base}/files`);
      const filesLink = pages.locator('ag-results-list a', { hasText: 'Open in viewer' });
      await filesLink.waitFor();
      assert.equal(await filesLink.getAttribute('href'), viewerHref);
    });
  },
);

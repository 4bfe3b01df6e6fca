import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { chromium, type Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import dicomParser from 'dicom-parser';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { stowFolder } from '../support/wado.ts';
import { viewerStatus } from '../../server/viewer/viewerDist.ts';
import { listen } from './fixtures.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './pages.e2e.test.ts';

test(
  'the OHIF viewer at /viewer/ opens a stored series from our DICOMweb and draws it',
  { timeout: 240_000 },
  async (t) => {
    if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
    if (!requireOrSkip(t, viewerStatus().available, 'the OHIF viewer (npm run install-viewer)')) return;
    if (!requireTestData(t)) return;
    await withTestDatabase('pglite', t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { base } = await listen(t, deps);
      const files = await stowFolder(base, testDataPath('dicom/compressed_series/d2n_mr4sl_jpeg_lossless_sv1'));
      const first = dicomParser.parseDicom([...files.values()][0], { untilTag: 'x7fe00010' });
      const study = first.string('x0020000d') ?? '';

      const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      t.after(() => browser.close());
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const console_: string[] = [];
      page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
      const dicomweb: Array<{ url: string; status: number; accept?: string; ctype?: string }> = [];
      page.on('response', (r) => {
        if (r.url().includes('/dicomweb/'))
          dicomweb.push({
            url: r.url(),
            status: r.status(),
            accept: r.request().headers().accept,
            ctype: r.headers()['content-type'],
          });
      });
      await page.goto(`${base}/viewer/viewer?StudyInstanceUIDs=${study}`);
      await page.waitForTimeout(12000);
      await writeFile('/tmp/vw/shot.png', await page.screenshot());
      await writeFile('/tmp/vw/log.json', JSON.stringify({ dicomweb, console_ }, null, 2));
      assert.ok(PNG);
      const u = dicomweb.find((d) => d.url.includes('/frames/'))!.url.replace('/frames/1', '/rendered');
      await writeFile(
        '/tmp/vw/rendered.png',
        Buffer.from(await (await fetch(u, { headers: { Accept: 'image/png' } })).arrayBuffer()),
      );
    });
  },
);

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireOrSkip } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { freePort, hasOrthanc, startOrthanc } from '../support/orthanc.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { buildWeb } from '../../scripts/build-web.ts';
import { taskList } from '../../server/app/tasks.ts';
import { Worker } from '../../server/jobs/worker.ts';
import { readHeaderDataset } from '../../server/seg/dcmjsData.ts';
import { insertResult, listen, sampleGlb } from './fixtures.ts';

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

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

test('Send to PACS on the files page: choose a node, the SEG arrives there over C-STORE, a node that is down shows why it failed', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  if (!requireOrSkip(t, hasOrthanc(), 'Orthanc (Debian: orthanc orthanc-dicomweb)')) return;
  const webDist = await mkdtemp(join(tmpdir(), 'ag-web-pacs-'));
  t.after(() => rm(webDist, { recursive: true, force: true }));
  await buildWeb({ outDir: webDist, minify: false });
  const orthanc = await startOrthanc();
  t.after(() => orthanc.stop());
  const downPort = await freePort();

  await withTestDatabase('pglite', t, async (db) => {
    const nodes = [
      { name: 'orthanc', dimse: { host: '127.0.0.1', port: orthanc.dicomPort, aeTitle: 'ORTHANC' } },
      { name: 'down', dimse: { host: '127.0.0.1', port: downPort, aeTitle: 'NOBODY' } },
    ];
    const deps = { ...(await testAppDeps(db, t, { PACS_NODES: JSON.stringify(nodes) })), webDist };
    const all = taskList(deps);
    const worker = new Worker({
      db,
      queue: deps.queue,
      tasks: { 'pacs-export': all['pacs-export'] },
      logger: deps.logger,
      concurrency: 2,
      pollIntervalMs: 100,
    });
    void worker.start();
    t.after(() => worker.stop(2000));

    // Any Part-10 object goes through the export the same way; a one-slice CT stands in for the SEG.
    const [seg] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [16, 16, 1], seed: 9 }));
    const sop = String(readHeaderDataset(seg).SOPInstanceUID);
    const glb = await sampleGlb();
    const withSeg = await insertResult(db, deps.dataDir, {
      name: 'CT Chest',
      files: { 'ct_chest.glb': glb, 'ct_chest_seg.dcm': seg },
    });
    const noSeg = await insertResult(db, deps.dataDir, { name: 'Uploaded NIfTI', files: { 'volume.glb': glb } });
    const { base } = await listen(t, deps);

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchConsole(page);
    await page.goto(`${base}/files`);

    const send = page.locator(`ag-results-list li.result[data-result="${withSeg.id}"] ag-pacs-send`);
    await send.locator('button.send-button').waitFor();
    assert.deepEqual(await send.locator('select option').allInnerTexts(), ['orthanc', 'down']);
    assert.equal(await send.locator('button.send-button').isEnabled(), true);
    const other = page.locator(`ag-results-list li.result[data-result="${noSeg.id}"] ag-pacs-send`);
    assert.equal(await other.locator('button.send-button').isDisabled(), true, 'no SEG, nothing to send');
    assert.match(await other.locator('.why').innerText(), /No DICOM SEG/);

    await send.locator('select').selectOption('orthanc');
    await send.locator('button.send-button').click();
    await send.locator('li[data-node="orthanc"][data-state="succeeded"]').waitFor({ timeout: 30_000 });
    assert.equal((await send.locator('li[data-node="orthanc"]').innerText()).trim(), 'Sent to orthanc');
    const found = (await (await fetch(`${orthanc.url}/tools/lookup`, { method: 'POST', body: sop })).json()) as Array<{
      Type: string;
    }>;
    assert.deepEqual(
      found.map((f) => f.Type),
      ['Instance'],
      'Orthanc holds the object sent',
    );

    await send.locator('select').selectOption('down');
    await send.locator('button.send-button').click();
    const failed = send.locator('li[data-node="down"][data-state="failed"]');
    await failed.waitFor({ timeout: 30_000 });
    assert.match(
      await failed.innerText(),
      /^Not sent to down: could not reach PACS node "down" \(127\.0\.0\.1:\d+\) over DIMSE/,
    );
    assert.equal(
      (await send.locator('li[data-node="orthanc"]').innerText()).trim(),
      'Sent to orthanc',
      'the other node keeps its state',
    );

    // After a reload the states come from GET /api/results.
    await page.reload();
    await send.locator('li[data-node="down"][data-state="failed"]').waitFor();
    assert.deepEqual(errors, []);
  });
});

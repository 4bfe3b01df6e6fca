import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import jsQRModule from 'jsqr';
import { PNG } from 'pngjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireOrSkip } from '../support/requirements.ts';
import { withTestDatabase, testAppDeps } from '../support/db.ts';
import { readZip } from '../../server/downloads/zipStream.test.ts';
import { insertJob, insertResult, listen, ownWebBuild, sampleGlb } from './fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // WebGL for model-viewer and NiiVue through the software rasteriser (no GPU in CI); through ANGLE, whose
  // SwiftShader renders to float textures as NiiVue's volume shaders need.
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
];
// jsqr is CommonJS typed as an ES module with a default export; under NodeNext the default import is
// module.exports itself, which is the function at run time.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');

/** Console errors and uncaught exceptions of a page; a test ends by asserting there were none. */
/**
 * NiiVue's gradient shaders (blur, sobel) need float render targets that software WebGL does not always give (seen
 * under load): NiiVue logs an error and draws the slices without them, as it would for a user without a GPU.
 */
export const SOFTWARE_WEBGL_NOTICE = /^niivue-error (blur|sobel) shader/;

function watchConsole(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((e) => e.test(m.text()))) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The focused element through shadow roots, described for assertions. */
function focused(page: Page): Promise<{ text: string; inDialog: string | null }> {
  return page.evaluate(() => {
    let el: Element | null = document.activeElement;
    const hosts: string[] = [];
    while (el?.shadowRoot?.activeElement) {
      hosts.push(el.tagName.toLowerCase());
      el = el.shadowRoot.activeElement;
    }
    const dialog = el?.closest('dialog');
    return {
      text: (el?.textContent ?? '').trim() || (el?.getAttribute('aria-label') ?? ''),
      inDialog: dialog ? hosts[hosts.length - 1] : null,
    };
  });
}

test('pages in headless Chromium: live queue, upload outcome, 3D preview, QR download of the ticked files', async (t) => {
  if (!requireOrSkip(t, existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package "chromium")`)) return;
  const webDist = await ownWebBuild(t);
  await mkdir(ARTIFACTS, { recursive: true });

  await withTestDatabase('pglite', t, async (db) => {
    const deps = { ...(await testAppDeps(db, t)), webDist };
    const running = await insertJob(db, {
      state: 'running',
      progress: 40,
      status: 'Segmenting structures',
      engine: 'builtin',
      seriesDescription: 'CT Abdomen 1.5mm',
      startedAgoMs: 65_000,
    });
    await insertJob(db, {
      state: 'failed',
      error: 'The series has 3 slices; at least 10 are needed for a 3D model.',
      engine: 'builtin',
      seriesDescription: 'Scout',
    });
    await insertJob(db, { state: 'queued', seriesDescription: 'MR Knee T1' });
    const glb = await sampleGlb();
    const ct = await insertResult(db, deps.dataDir, {
      name: 'CT Abdomen 1.5mm',
      files: {
        'ct_abdomen.glb': glb,
        'ct_abdomen_segments.json': Buffer.from('[{"label":1,"name":"liver"}]'),
        'ct_abdomen_seg.nii.gz': randomBytes(80_000),
        'ct_abdomen_seg.dcm': randomBytes(4_000),
      },
      segments: [
        { label: 1, name: 'liver', volumeMl: 1523.4 },
        { label: 2, name: 'spleen', volumeMl: 182.1 },
      ],
    });
    await insertResult(db, deps.dataDir, {
      name: 'MR Knee T1',
      files: { 'mr_knee.glb': glb },
      segments: [{ label: 1, name: 'body' }],
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const { base } = await listen(t, deps);

    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());

    // --- Upload page and live queue -------------------------------------------------------------
    {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      // The rejected upload answers 422 on purpose; Chromium reports any 4xx response as a console error.
      const errors = watchConsole(page, [/status of 422/]);
      await page.goto(`${base}/`);
      await page.locator('ag-app-header a[aria-current="page"]', { hasText: 'Upload' }).waitFor();
      const row = page.locator(`ag-job-queue li[data-job="${running}"]`);
      await row.waitFor();
      await assert.doesNotReject(page.locator('ag-job-queue .connection[data-state="live"]').waitFor());
      assert.match(
        await row.innerText(),
        /CT Abdomen 1\.5mm[\s\S]*Processing[\s\S]*Engine: builtin[\s\S]*Segmenting structures[\s\S]*running 1 min/,
      );
      assert.match(await page.locator('ag-job-queue li[data-state="failed"]').innerText(), /at least 10 are needed/);
      assert.equal(await page.locator('ag-job-queue .counts dd').nth(4).innerText(), '2');

      // A change pushed over SSE shows up without any reload or polling.
      await db.query(`UPDATE jobs SET progress = 75, status = 'Building surfaces' WHERE id = $1`, [running]);
      deps.events.emit({ type: 'job', jobId: running, state: 'running', progress: 75, status: 'Building surfaces' });
      await page.locator(`ag-job-queue li[data-job="${running}"]`, { hasText: '75%' }).waitFor({ timeout: 5000 });
      assert.match(await row.innerText(), /Building surfaces/);

      // Upload through the file picker: a file that is no scan is rejected with its reason.
      await page
        .locator('ag-upload-panel input#files')
        .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') });
      const outcome = page.locator('ag-upload-panel .file[data-state="rejected"] .file-outcome');
      await outcome.waitFor({ timeout: 15_000 }).catch(async (e: unknown) => {
        throw new Error(
          `upload did not end in a rejection; the panel shows: ${await page.evaluate(() => document.querySelector('ag-upload-panel')?.shadowRoot?.textContent?.replace(/\s+/g, ' '))}`,
          { cause: e },
        );
      });
      assert.match(await outcome.innerText(), /^Rejected: .{5,}/);
      assert.match(await page.locator('ag-upload-panel .summary').innerText(), /1 file done · 1 rejected/);
      // Rejections are grouped by reason, and one group can be shown alone.
      await page.locator('ag-upload-panel input#files').setInputFiles([
        { name: 'more-notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') },
        { name: 'empty.dcm', mimeType: 'application/dicom', buffer: Buffer.alloc(0) },
      ]);
      await page.locator('ag-upload-panel .summary', { hasText: '3 files done · 3 rejected' }).waitFor();
      const groups = page.locator('ag-upload-panel .reasons li');
      assert.equal(await groups.count(), 2);
      const twice = groups.filter({ hasText: '2 files' });
      await twice.locator('button', { hasText: 'Show only these' }).click();
      assert.deepEqual(await page.locator('ag-upload-panel .file .file-name').allInnerTexts(), [
        'notes.txt',
        'more-notes.txt',
      ]);
      await twice.locator('button', { hasText: 'Show all files' }).click();
      assert.equal(await page.locator('ag-upload-panel .file').count(), 3);
      await shoot(page, 'upload-desktop');
      await page.setViewportSize({ width: 360, height: 800 });
      await shoot(page, 'upload-360');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `upload page is ${overflow}px wider than a 360px screen`);
      assert.deepEqual(errors, []);
      await page.close();
    }

    // --- Files page: preview, selection, QR -----------------------------------------------------
    // A phone camera sees the screen at more than one pixel per CSS pixel; so does this screenshot.
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 2 });
    const errors = watchConsole(page);
    await page.goto(`${base}/files`);
    const result = page.locator(`ag-results-list li.result[data-result="${ct.id}"]`);
    await result.waitFor();
    assert.match(await result.innerText(), /CT Abdomen 1\.5mm[\s\S]*Engine: builtin[\s\S]*2 segments/);
    assert.equal(await page.locator('ag-results-list li.result').count(), 2);
    await shoot(page, 'files-desktop');

    // model-viewer is not part of the initial download.
    const scripts = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
    assert.ok(!scripts.some((s) => s.includes('model-viewer')), 'model-viewer loaded before it was needed');

    await page.evaluate(() => {
      (window as unknown as { previewLoaded: Promise<unknown> }).previewLoaded = new Promise((resolve, reject) => {
        document.addEventListener('ag-preview-load', (e) => resolve((e as CustomEvent).detail));
        document.addEventListener('ag-preview-error', (e) =>
          reject(new Error((e as CustomEvent<{ message: string }>).detail.message)),
        );
      });
    });
    const previewButton = result.locator('button.preview');
    await previewButton.click();
    const loaded = (await page.evaluate(
      () => (window as unknown as { previewLoaded: Promise<unknown> }).previewLoaded,
    )) as { structures: number };
    assert.equal(loaded.structures, 2);
    const structures = page.locator('ag-model-preview aside li');
    assert.deepEqual(
      (await structures.allInnerTexts()).map((s) => s.trim().replace(/\s+/g, ' ')),
      ['liver 1523.4 mL', 'spleen 182.1 mL'],
    );
    await structures.nth(1).locator('input').uncheck();
    assert.equal(await structures.nth(1).locator('input').isChecked(), false);
    await page.waitForTimeout(300);
    await shoot(page, 'preview-desktop');
    await page.keyboard.press('Escape');
    await page
      .locator('ag-model-preview dialog[open]')
      .waitFor({ state: 'detached', timeout: 3000 })
      .catch(() => undefined);
    assert.equal(await page.locator('ag-model-preview dialog').evaluate((d) => (d as HTMLDialogElement).open), false);
    assert.equal((await focused(page)).text, '3D preview', 'focus returns to the button that opened the preview');

    // Tick two files (from two results) and make a QR code.
    await result.locator('li.file', { hasText: 'ct_abdomen.glb' }).locator('input').check();
    await page.locator('ag-results-list li.result', { hasText: 'MR Knee T1' }).locator('li.file input').check();
    assert.match(await page.locator('ag-results-list .selected').innerText(), /^2 files selected/);
    const generate = page.locator('ag-results-list button', { hasText: 'Generate QR code' });
    await generate.click();
    const qr = page.locator('ag-qr-dialog img.qr');
    await qr.waitFor();
    assert.equal((await focused(page)).inDialog, 'ag-qr-dialog', 'focus moves into the dialog');
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      assert.equal(
        (await focused(page)).inDialog,
        'ag-qr-dialog',
        `focus stays in the dialog after ${i + 1} Tab presses`,
      );
    }
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused(page)).inDialog, 'ag-qr-dialog');
    const linkText = await page.locator('ag-qr-dialog input#link-text').inputValue();
    assert.match(await page.locator('ag-qr-dialog .body').innerText(), /Valid until[\s\S]*\(in (59|60) min\)/);
    await shoot(page, 'qr-desktop');

    const png = PNG.sync.read(await qr.screenshot());
    const decoded = jsQR(
      new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length),
      png.width,
      png.height,
    );
    assert.ok(decoded, 'the QR code decodes');
    assert.equal(decoded.data, linkText, 'the QR code holds the link shown as text');
    const link = new URL(decoded.data);
    // Fetch over the loopback with the path of the link: the address in it is the LAN's.
    const zip = await fetch(`${base}${link.pathname}/zip`);
    assert.equal(zip.status, 200);
    const entries = await readZip(Buffer.from(await zip.arrayBuffer()));
    assert.deepEqual(entries.map((e) => e.name).sort(), ['ct_abdomen.glb', 'mr_knee.glb']);
    for (const e of entries) assert.ok(e.data.equals(glb), `${e.name} is byte-identical`);

    await page.keyboard.press('Escape');
    assert.equal(await page.locator('ag-qr-dialog dialog').evaluate((d) => (d as HTMLDialogElement).open), false);
    assert.equal((await focused(page)).text, 'Generate QR code', 'focus returns to the QR button');

    // With the SEG (patient name and ID) ticked too, the dialog asks first; it stays out unless ticked there.
    await result.locator('li.file', { hasText: 'ct_abdomen_seg.dcm' }).locator('input').check();
    await generate.click();
    const choice = page.locator('ag-qr-dialog ul.choice li');
    await choice.first().waitFor();
    const segChoice = choice.filter({ hasText: 'ct_abdomen_seg.dcm' });
    assert.match(await segChoice.innerText(), /patient data/);
    assert.equal(await segChoice.locator('input').isChecked(), false, 'patient data is unticked by default');
    assert.equal(await choice.filter({ hasText: 'mr_knee.glb' }).locator('input').isChecked(), true);
    await page.locator('ag-qr-dialog button.make').click();
    await qr.waitFor();
    assert.deepEqual((await page.locator('ag-qr-dialog ul.contents li').allInnerTexts()).map((x) => x.trim()).sort(), [
      'ct_abdomen.glb',
      'mr_knee.glb',
    ]);
    assert.match(await page.locator('ag-qr-dialog .body').innerText(), /Left out: ct_abdomen_seg\.dcm/);
    const second = new URL(await page.locator('ag-qr-dialog input#link-text').inputValue());
    assert.equal((await fetch(`${base}${second.pathname}`)).status, 200);
    await page.locator('ag-qr-dialog button.withdraw').click();
    await page.locator('ag-qr-dialog .warning', { hasText: 'withdrawn' }).waitFor();
    assert.equal((await fetch(`${base}${second.pathname}`)).status, 410, 'a withdrawn link opens nothing');
    assert.match(await page.locator('ag-qr-dialog details.active summary').innerText(), /Other active links \(1\)/);
    await page.keyboard.press('Escape');
    await result.locator('li.file', { hasText: 'ct_abdomen_seg.dcm' }).locator('input').uncheck();

    await page.setViewportSize({ width: 360, height: 800 });
    await shoot(page, 'files-360');
    // On a phone each file shows its whole name (a _seg.dcm, _seg.nii.gz and _segments.json are told apart).
    const names = await result
      .locator('li.file label')
      .evaluateAll((els) =>
        els.map((e) => ({ text: e.textContent?.trim() ?? '', cut: e.scrollWidth - e.clientWidth })),
      );
    assert.ok(names.length >= 3, JSON.stringify(names));
    for (const n of names) assert.ok(n.cut <= 0, `"${n.text}" is cut by ${n.cut}px at 360px`);
    assert.ok(
      names.some((n) => n.text.includes('ct_abdomen_seg.dcm')),
      JSON.stringify(names),
    );
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `files page is ${overflow}px wider than a 360px screen`);
    assert.deepEqual(errors, []);

    // --- The phone page the QR code opens ----------------------------------------------------------
    // A phone in another zone and with a 12-hour clock: the link's time is shown in its terms, as the desktop does.
    const phone = await browser.newPage({
      viewport: { width: 360, height: 740 },
      isMobile: true,
      timezoneId: 'America/New_York',
      locale: 'en-US',
    });
    const phoneErrors = watchConsole(phone);
    await phone.goto(`${base}${link.pathname}`);
    const phoneText = await phone.locator('main').innerText();
    assert.match(phoneText, /2 files[\s\S]*Download all \(\.zip/);
    assert.match(phoneText, /ct_abdomen\.glb/);
    assert.match(phoneText, /mr_knee\.glb/);
    assert.doesNotMatch(phoneText, /ct_abdomen_seg/);
    const when = phone.locator('time[data-local]');
    const expected = await when.evaluate((el) =>
      new Date(el.getAttribute('datetime') ?? '').toLocaleString('en-US', {
        timeZone: 'America/New_York',
        dateStyle: 'medium',
        timeStyle: 'short',
      }),
    );
    assert.match(expected, /[AP]M$/);
    assert.equal(await when.innerText(), expected);
    await shoot(phone, 'phone-360');
    assert.deepEqual(phoneErrors, []);
  });
});

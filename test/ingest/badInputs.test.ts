import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { dj, fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { FAILURE_TEXT_TAG } from '../../server/dicomweb/stow.ts';
import type { IngestReport } from '../../server/ingest/ingestFile.ts';

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out.sort();
}

/** Expected outcome per file (path relative to bad_inputs): a reason pattern when rejected, or 'dicom'/'volume'. */
const EXPECTED: Array<[RegExp, 'dicom' | 'volume' | RegExp]> = [
  [/^geometry_problem_series\/.*\.dcm$/, 'dicom'],
  [/ground_truth\.nii\.gz$/, 'volume'],
  [/ExplVR_LitEndNoMeta|__no_meta|rtstruct/, /without the Part 10 preamble and file meta/],
  [/meta_missing_tsyntax|dicm_magic_then_random_bytes/, /Transfer Syntax UID \(0002,0010\)/],
  [/MR_truncated|ct_slice_truncated_mid_pixeldata/, /truncated file: Pixel Data/],
  [/rtplan_truncated|ct_slice_truncated_in_header/, /truncated or corrupt/],
  [/zipMR\.gz/, /gzip-compressed DICOM/],
  [/bad_sequence/, /not a valid UID/],
  [/DIRFILE/, /DICOMDIR/],
  [/empty_file/, /empty file/],
  [/plain_text_not_dicom/, /text file/],
  [/png_image_renamed/, /PNG image/],
  [/nifti_gz_renamed/, 'volume'],
  // Its UIDs are blank: the form fills them from its content (test/ingest/blankUids.test.ts); STOW-RS refuses it below.
  [/HTJ2KLossless/, 'dicom'],
  [/test-SR|waveform_ecg|liver_deflate|non_volume_ct_images\/.*\/I\d+$/, 'dicom'],
];

test('every bad input file gets a specific outcome through the upload form and STOW-RS, and the server keeps serving', async (t) => {
  if (!requireTestData(t)) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    const root = testDataPath('dicom', 'bad_inputs');
    const files = await walk(root);
    assert.ok(files.length > 40);
    const form = new FormData();
    for (const f of files) form.append('files', new Blob([new Uint8Array(await readFile(f))]), relative(root, f));
    const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const report = (await res.json()) as IngestReport;
    const outcome = new Map<string, string>();
    for (const a of report.accepted) outcome.set(a.file, a.kind);
    for (const r of report.rejected) outcome.set(r.file, `rejected: ${r.reason}`);
    for (const f of files) {
      const rel = relative(root, f);
      const got = outcome.get(rel);
      assert.ok(got, `${rel} has an outcome`);
      const rule = EXPECTED.find(([re]) => re.test(rel));
      if (!rule) continue; // decodable-header files whose problems show up at processing (bad VR, J2K quirks)
      if (typeof rule[1] === 'string') assert.equal(got, rule[1], rel);
      else assert.match(got, rule[1], rel);
    }
    assert.deepEqual(await readdir(join(deps.dataDir, 'tmp')), [], 'no temp files left');

    // Non-image objects are stored but never become a process job.
    const nonImage = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE NOT volume_image');
    assert.ok(Number(nonImage.rows[0].n) >= 4);

    // The same files through STOW-RS in one request: stored or failed with a reason code, never a crash.
    const parts = await Promise.all(files.filter((f) => !f.endsWith('.nii.gz')).map((f) => readFile(f)));
    const stow = await fetch(`${url}/dicomweb/studies`, {
      method: 'POST',
      body: fetchBody(multipartRelated(parts, 'bad-inputs')),
      headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=bad-inputs' },
    });
    assert.equal(stow.status, 202);
    const json = (await stow.json()) as Record<string, unknown>;
    const failed = dj(json, '00081198') ?? [];
    const stored = dj(json, '00081199') ?? [];
    assert.equal(failed.length + stored.length, parts.length);
    for (const f of failed) {
      assert.ok(typeof dj(f, '00081197')?.[0] === 'number');
      assert.ok(String(dj(f, FAILURE_TEXT_TAG)?.[0]).length > 5);
    }
    assert.ok(
      failed.some((f) => /Study Instance UID \(0020,000D\) is missing/.test(String(dj(f, FAILURE_TEXT_TAG)?.[0]))),
      'a file with blank UIDs is refused over STOW-RS',
    );
    assert.equal((await fetch(`${url}/dicomweb/studies?limit=1`)).status, 200, 'still serving');
  });
});

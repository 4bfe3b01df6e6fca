import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { dj, fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { FailureReason } from '../../server/dicom/failure.ts';
import { FAILURE_TEXT_TAG } from '../../server/dicomweb/stow.ts';

const ct = makeSyntheticCt({ dims: [32, 32, 4], seed: 7 });

async function post(
  url: string,
  body: Buffer,
  contentType: string,
): Promise<{ status: number; json: Record<string, unknown>; type: string | null; warning: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    body: fetchBody(body),
    headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' },
  });
  const text = await res.text();
  return {
    status: res.status,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    type: res.headers.get('content-type'),
    warning: res.headers.get('warning'),
  };
}

function failedReasons(json: Record<string, unknown>): number[] {
  return (dj(json, '00081198') ?? []).map((item) => dj(item, '00081197')?.[0] as number);
}

for (const driver of testDatabases()) {
  test(`STOW-RS of instances already stored: 202 with a Warning, the first copy kept (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const study = newUid();
      const series = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: series });
      const send = (parts: Buffer[]) =>
        fetch(`${url}/dicomweb/studies`, {
          method: 'POST',
          body: fetchBody(multipartRelated(parts, 'b1')),
          headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=b1' },
        });
      const first = await send(slices);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('warning'), null);

      const again = await send(slices.slice(0, 2));
      assert.equal(again.status, 202);
      assert.equal(
        again.headers.get('warning'),
        '299 anatomy-gateway "2 instance(s) already stored with the same content"',
      );
      const json = (await again.json()) as Record<string, unknown>;
      assert.equal((dj(json, '00081199') ?? []).length, 2, 'both are referenced as stored');

      const changed = Buffer.from(slices[2]);
      changed[changed.length - 1] ^= 1;
      const other = await send([changed]);
      assert.equal(other.status, 202);
      assert.match(
        other.headers.get('warning') ?? '',
        /1 instance\(s\) already stored with other content: the first copy was kept/,
      );
      const kept = await readFile(join(deps.dataDir, 'dicom', study, series, `${series}.3.dcm`));
      assert.ok(kept.subarray(128).equals(slices[2].subarray(128)), 'the first copy stays');
      const rows = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM dicom_instances WHERE series_uid = $1',
        [series],
      );
      assert.equal(rows.rows[0].n, 4);
    });
  });

  test(`STOW-RS all good: 200, referenced instances with retrieve URLs, files and index rows (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const study = newUid();
      const series = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: study, seriesUid: series });
      // Quoted boundary and quoted type, as dicomweb-client sends them.
      const res = await post(
        `${url}/dicomweb/studies`,
        multipartRelated(slices, 'abc-123'),
        'multipart/related; type="application/dicom"; boundary="abc-123"',
      );
      assert.equal(res.status, 200);
      assert.match(res.type ?? '', /application\/dicom\+json/);
      assert.equal(dj(res.json, '00081198'), undefined);
      const refs = dj(res.json, '00081199') ?? [];
      assert.equal(refs.length, 4);
      assert.equal(dj(res.json, '00081190')?.[0], `${url}/dicomweb/studies/${study}`);
      const sops = refs.map((r) => dj(r, '00081155')?.[0]).sort();
      assert.deepEqual(
        sops,
        [1, 2, 3, 4].map((k) => `${series}.${k}`),
      );
      assert.equal(
        dj(refs[0], '00081190')?.[0],
        `${url}/dicomweb/studies/${study}/series/${series}/instances/${dj(refs[0], '00081155')?.[0]}`,
      );
      const stored = await readdir(join(deps.dataDir, 'dicom', study, series));
      assert.equal(stored.length, 4);
      const bytes = await readFile(join(deps.dataDir, 'dicom', study, series, `${series}.1.dcm`));
      assert.ok(bytes.subarray(0, 128).equals(Buffer.alloc(128)), 'preamble zeroed');
      assert.ok(bytes.subarray(128).equals(slices[0].subarray(128)), 'rest byte-identical');
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE series_uid = $1', [
        series,
      ]);
      assert.equal(Number(rows.rows[0].n), 4);
      const tmp = await readdir(join(deps.dataDir, 'tmp'));
      assert.deepEqual(tmp, [], 'no temp files left');
      // One debounced timer job for the series, not one per instance.
      const jobs = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM jobs WHERE kind = 'series-stable' AND state = 'queued'",
      );
      assert.equal(Number(jobs.rows[0].n), 1);
    });
  });

  test(`STOW-RS partial: garbage and a wrong part type fail with reasons, the rest is stored, 202 (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const slices = syntheticDicomSliceBuffers(ct);
      const garbage = Buffer.concat([
        Buffer.alloc(128),
        Buffer.from('DICM'),
        Buffer.from('not really a data set at all'),
      ]);
      const body = Buffer.concat([
        multipartRelated([slices[0], garbage], 'B1', { close: false }),
        Buffer.from('--B1\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--B1--\r\n'),
      ]);
      const res = await post(`${url}/dicomweb/studies`, body, 'multipart/related; type=application/dicom; boundary=B1');
      assert.equal(res.status, 202);
      assert.equal((dj(res.json, '00081199') ?? []).length, 1);
      assert.deepEqual(failedReasons(res.json).sort(), [
        FailureReason.CannotUnderstand,
        FailureReason.CannotUnderstand,
      ]);
      const texts = (dj(res.json, '00081198') ?? []).map((i) => String(dj(i, FAILURE_TEXT_TAG)?.[0]));
      assert.ok(
        texts.some((m) => /Transfer Syntax UID \(0002,0010\)/.test(m)),
        texts.join(' | '),
      );
      assert.ok(
        texts.some((m) => /image\/png/.test(m)),
        texts.join(' | '),
      );
      assert.deepEqual(await readdir(join(deps.dataDir, 'tmp')), []);
    });
  });

  test(`STOW-RS to /studies/{uid} with another study: 409 and nothing stored (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const slices = syntheticDicomSliceBuffers(ct, { studyUid: newUid() });
      const other = newUid();
      const res = await post(
        `${url}/dicomweb/studies/${other}`,
        multipartRelated(slices.slice(0, 2), 'x'),
        'multipart/related; type="application/dicom"; boundary=x',
      );
      assert.equal(res.status, 409);
      assert.deepEqual(failedReasons(res.json), [
        FailureReason.StudyInstanceUidMismatch,
        FailureReason.StudyInstanceUidMismatch,
      ]);
      assert.ok(dj(dj(res.json, '00081198')?.[0], '00081155')?.[0], 'failed item names the SOP instance');
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances');
      assert.equal(Number(rows.rows[0].n), 0);
    });
  });

  test(`STOW-RS garbage body, bad content types and re-sent instances (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const garbage = await post(
        `${url}/dicomweb/studies`,
        Buffer.from('hello world'),
        'multipart/related; type="application/dicom"; boundary=zz',
      );
      assert.equal(garbage.status, 400);
      assert.match(String(garbage.json.error), /boundary/);
      const json = await post(`${url}/dicomweb/studies`, Buffer.from('{}'), 'application/json');
      assert.equal(json.status, 415);
      const meta = await post(
        `${url}/dicomweb/studies`,
        Buffer.from('--a\r\n\r\n[]\r\n--a--'),
        'multipart/related; type="application/dicom+json"; boundary=a',
      );
      assert.equal(meta.status, 415);
      const noBoundary = await post(
        `${url}/dicomweb/studies`,
        Buffer.from('x'),
        'multipart/related; type="application/dicom"',
      );
      assert.equal(noBoundary.status, 400);
      const badUid = await post(
        `${url}/dicomweb/studies/..%2F..%2Fetc`,
        Buffer.from('x'),
        'multipart/related; type="application/dicom"; boundary=a',
      );
      assert.equal(badUid.status, 400);

      // The same instance twice (and once more in a later request) stays one instance.
      const series = newUid();
      const slices = syntheticDicomSliceBuffers(ct, { seriesUid: series });
      const twice = await post(
        `${url}/dicomweb/studies`,
        multipartRelated([slices[0], slices[0], slices[1]], 'r'),
        'multipart/related; type=application/dicom; boundary=r',
      );
      // Parts are stored concurrently: the second copy is either found stored (202, warned) or placed at the same key.
      assert.ok([200, 202].includes(twice.status), String(twice.status));
      const again = await post(`${url}/dicomweb/studies`, slices[0], 'application/dicom');
      assert.equal(again.status, 202, 'stored with a warning: already stored');
      assert.match(again.warning ?? '', /1 instance\(s\) already stored with the same content/);
      const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instances WHERE series_uid = $1', [
        series,
      ]);
      assert.equal(Number(rows.rows[0].n), 2);
    });
  });

  test(`STOW-RS body cut off before the closing boundary: complete parts stored, the cut one failed (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const { url } = await startTestServer(deps, t);
      const slices = syntheticDicomSliceBuffers(ct);
      const full = multipartRelated(slices.slice(0, 2), 'cut');
      const res = await post(
        `${url}/dicomweb/studies`,
        full.subarray(0, full.length - 1000),
        'multipart/related; type="application/dicom"; boundary=cut',
      );
      assert.equal(res.status, 202);
      assert.equal((dj(res.json, '00081199') ?? []).length, 1);
      assert.deepEqual(failedReasons(res.json), [FailureReason.CannotUnderstand]);
      assert.deepEqual(await readdir(join(deps.dataDir, 'tmp')), []);
    });
  });
}

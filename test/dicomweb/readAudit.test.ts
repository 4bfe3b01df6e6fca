import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDataDir, testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { fetchBody, multipartRelated, startTestServer } from '../support/dicomweb.ts';
import { addToken, bearer } from '../support/auth.ts';
import { makeSyntheticCt, newUid, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { listAudit, type AuditRow } from '../../server/audit/audit.ts';
import { dicomAuditMessage } from '../../server/audit/dicomAudit.ts';

const BOUNDARY = 'read-audit-boundary';

/** A port nothing listens on: a PACS node there is unreachable. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

for (const driver of testDatabases()) {
  test(`every read of patient data leaves an audit row with actor, address, UIDs and outcome, never a name (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const dist = join(await tempDataDir(t), 'viewer');
      await mkdir(dist, { recursive: true });
      await writeFile(join(dist, 'index.html'), '<p>viewer</p>');
      const nodes = [{ name: 'far', dicomweb: { url: `http://127.0.0.1:${await closedPort()}/dicom-web` } }];
      const deps = {
        ...(await testAppDeps(db, t, { AUTH: 'on', PACS_NODES: JSON.stringify(nodes) })),
        viewerDist: dist,
      };
      const { url } = await startTestServer(deps, t);
      const ingest = await addToken(db, 'scanner', ['ingest']);
      const reader = await addToken(db, 'radiologist', ['read']);
      const as = { headers: bearer(reader.token) };

      const study = newUid();
      const series = newUid();
      const ct = makeSyntheticCt({ dims: [16, 16, 3], seed: 4 });
      const slices = syntheticDicomSliceBuffers(ct, {
        studyUid: study,
        seriesUid: series,
        patientName: 'Doe^Jane',
        patientId: 'PID-4711',
      });
      const stow = await fetch(`${url}/dicomweb/studies`, {
        method: 'POST',
        headers: {
          ...bearer(ingest.token),
          'Content-Type': `multipart/related; type="application/dicom"; boundary=${BOUNDARY}`,
        },
        body: fetchBody(multipartRelated(slices, BOUNDARY)),
      });
      assert.equal(stow.status, 200);
      const sop = `${series}.1`;
      const inst = `${url}/dicomweb/studies/${study}/series/${series}/instances/${sop}`;

      const reads: Array<[string, number]> = [
        [`${url}/dicomweb/studies?PatientName=Doe*`, 200],
        [`${url}/dicomweb/studies/${study}/series`, 200],
        [`${url}/dicomweb/studies/${study}`, 200],
        [`${url}/dicomweb/studies/${study}/series/${series}/metadata`, 200],
        [`${inst}/frames/1`, 200],
        [`${inst}/frames/1`, 200],
        [`${inst}/rendered`, 200],
        [`${url}/dicomweb/studies/${study}/series/${series}/thumbnail`, 200],
        [`${url}/dicomweb/studies/1.2.3.4.5.6.7.8`, 404],
        [`${url}/viewer/viewer?StudyInstanceUIDs=${study}`, 200],
        [`${url}/api/pacs/nodes/far/studies?patientName=Doe`, 504],
      ];
      for (const [address, status] of reads) {
        const res = await fetch(address, as);
        await res.arrayBuffer();
        assert.equal(res.status, status, address);
      }
      const retrieve = await fetch(`${url}/api/pacs/nodes/far/retrieve`, {
        method: 'POST',
        headers: { ...bearer(reader.token), 'Content-Type': 'application/json' },
        body: JSON.stringify({ studyInstanceUid: study }),
      });
      assert.equal(retrieve.status, 403, 'a read token may not retrieve');
      const admin = await addToken(db, 'ops', ['admin']);
      const retrieved = await fetch(`${url}/api/pacs/nodes/far/retrieve`, {
        method: 'POST',
        headers: { ...bearer(admin.token), 'Content-Type': 'application/json' },
        body: JSON.stringify({ studyInstanceUid: study, seriesInstanceUid: series }),
      });
      assert.equal(retrieved.status, 202);

      const rows = (await listAudit(db, { limit: 200 })).reverse();
      const reading = rows.filter((r) => /^(dicomweb|pacs|viewer)-/.test(r.event) && r.event !== 'dicomweb-store');
      const find = (event: string, what: string, pick: (r: AuditRow) => boolean = () => true): AuditRow[] =>
        reading.filter((r) => r.event === event && r.details.what === what && pick(r));

      const [query] = find('dicomweb-query', 'studies');
      assert.ok(query, JSON.stringify(reading));
      assert.equal(query.actor, 'token:radiologist');
      assert.match(query.address ?? '', /127\.0\.0\.1/);
      assert.equal(query.outcome, 'success');
      assert.deepEqual(query.details.studies, [study]);
      assert.deepEqual(query.details.queryKeys, ['PatientName']);
      assert.equal(query.details.matches, 1);

      const [seriesQuery] = find('dicomweb-query', 'series');
      assert.deepEqual(seriesQuery.details.series, [series]);

      const [retrieveRow] = find('dicomweb-retrieve', 'instances', (r) => r.outcome === 'success');
      assert.deepEqual(
        [retrieveRow.target, retrieveRow.details.series, retrieveRow.details.instances],
        [study, [series], 3],
      );
      assert.equal(find('dicomweb-access', 'metadata').length, 1);
      assert.equal(find('dicomweb-access', 'frames').length, 1, 'the second frame read is folded into the first');
      assert.equal(find('dicomweb-access', 'frames')[0].details.foldsRepeatsForSeconds, 60);
      assert.equal(find('dicomweb-access', 'rendered').length, 1);
      assert.equal(find('dicomweb-access', 'thumbnail').length, 1);

      const [missing] = find('dicomweb-retrieve', 'instances', (r) => r.outcome === 'failure');
      assert.deepEqual([missing.target, missing.details.status], ['1.2.3.4.5.6.7.8', 404]);

      const [viewer] = find('viewer-open', 'viewer');
      assert.deepEqual(viewer.details.studies, [study]);

      const [pacsQuery] = find('pacs-query', 'studies');
      assert.deepEqual(
        [pacsQuery.outcome, pacsQuery.details.node, pacsQuery.details.status, pacsQuery.details.queryKeys],
        ['failure', 'far', 504, ['patientName']],
      );
      const [pacsRetrieve] = find('pacs-retrieve', 'retrieve');
      assert.deepEqual(
        [pacsRetrieve.actor, pacsRetrieve.details.studies, pacsRetrieve.details.series],
        ['token:ops', [study], [series]],
      );

      const all = JSON.stringify(rows);
      assert.ok(!/Doe|Jane|PID-4711/.test(all), 'no patient name or id in the audit trail');
      const xml = dicomAuditMessage(retrieveRow, 'anatomy-gateway') ?? '';
      assert.match(xml, /110102/);
      assert.ok(xml.includes(`ParticipantObjectID="${study}"`));
      const exported = (await (
        await fetch(`${url}/api/audit?event=dicomweb-query&format=dicom`, { headers: bearer(admin.token) })
      ).json()) as { events: Array<{ dicomAuditMessage: string | null }> };
      assert.match(exported.events[0].dicomAuditMessage ?? '', /<EventID csd-code="110112"/);
    });
  });
}

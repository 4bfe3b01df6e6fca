import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { startTestServer } from '../support/dicomweb.ts';
import { buildQidoQuery } from '../../server/dicomweb/qido.ts';
import { HttpError } from '../../server/errors.ts';

/** Query strings a fuzzer sends: each must be a 400 that names the parameter, never a 500. */
const BAD: Array<[string, string]> = [
  ['__proto__=x', '__proto__'],
  ['constructor=x', 'constructor'],
  ['toString=x', 'toString'],
  ['hasOwnProperty=x', 'hasOwnProperty'],
  ['PatientName=%00', 'PatientName'],
  ['PatientID=a%01b', 'PatientID'],
  ['offset=99999999999999999999', 'offset'],
  ['SeriesNumber=99999999999', 'SeriesNumber'],
  ['InstanceNumber=-99999999999', 'InstanceNumber'],
];

test('QIDO-RS answers 400 naming the parameter for prototype keys, control characters and out-of-range numbers', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const { url } = await startTestServer(deps, t);
    for (const level of ['studies', 'series', 'instances']) {
      for (const [qs, name] of BAD) {
        const res = await fetch(`${url}/dicomweb/${level}?${qs}`, { headers: { Accept: 'application/dicom+json' } });
        const body = await res.text();
        assert.equal(res.status, 400, `${level}?${qs}: ${res.status} ${body}`);
        assert.ok(body.includes(name), `${level}?${qs}: the answer names ${name}: ${body}`);
      }
    }
    const ok = await fetch(`${url}/dicomweb/studies?unknownKeyword=1&offset=0&limit=5`);
    assert.equal(ok.status, 200, 'an unknown attribute keyword is still ignored');
  });
});

test('buildQidoQuery reads parameters as own keys only, whatever the prototype of the map it is given', () => {
  const plain: Record<string, string> = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
  assert.throws(
    () => buildQidoQuery('studies', plain, {}),
    (e: unknown) => e instanceof HttpError && e.status === 400 && /__proto__/.test(e.message),
  );
  const nullProto = Object.assign(Object.create(null) as Record<string, string>, { valueOf: 'x' });
  assert.throws(
    () => buildQidoQuery('series', nullProto, {}),
    (e: unknown) => e instanceof HttpError && e.status === 400 && /valueOf/.test(e.message),
  );
  const q = buildQidoQuery('series', Object.assign(Object.create(null), { SeriesNumber: '3' }), {});
  assert.deepEqual(q.params, [3]);
});

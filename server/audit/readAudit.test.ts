import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_UIDS_PER_ROW, readAuditEvent, RepeatedReads } from './readAudit.ts';

test('a read row keeps UIDs, counts and the names of the searched attributes, never their values', () => {
  const row = readAuditEvent(
    {
      event: 'dicomweb-query',
      what: 'studies',
      studies: ['1.2', '1.2', '1.3'],
      queryKeys: ['PatientName', 'limit'],
      matches: 2,
      status: 200,
    },
    'success',
  );
  assert.equal(row.event, 'dicomweb-query');
  assert.deepEqual(row.details?.studies, ['1.2', '1.3']);
  assert.deepEqual(row.details?.queryKeys, ['PatientName', 'limit']);
  assert.equal(row.target, null, 'several studies: no single target');
  const many = readAuditEvent(
    { event: 'dicomweb-query', what: 'studies', studies: Array.from({ length: 150 }, (_, i) => `1.${i}`) },
    'success',
  );
  assert.equal((many.details?.studies as string[]).length, MAX_UIDS_PER_ROW);
  assert.equal(many.details?.studiesListed, MAX_UIDS_PER_ROW);
});

test('repeated reads of a series fold into one row per window', () => {
  const reads = new RepeatedReads(1000, 3);
  assert.equal(reads.first('a', 0), true);
  assert.equal(reads.first('a', 500), false);
  assert.equal(reads.first('b', 500), true);
  assert.equal(reads.first('a', 1000), true, 'a new window makes a new row');
  assert.equal(reads.first('c', 1200), true);
  assert.equal(reads.first('d', 2500), true, 'full: old keys make room');
  assert.equal(reads.first('d', 2600), false);
});

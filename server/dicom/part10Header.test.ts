import { test } from 'node:test';
import assert from 'node:assert/strict';
import dicomParser from 'dicom-parser';
import { IMPLEMENTATION_CLASS_UID, part10Header } from './part10Header.ts';

test('part10Header writes a preamble, DICM and a File Meta group that a parser reads back', () => {
  const header = part10Header({
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3.4.5', // odd length: padded with NUL
    transferSyntaxUid: '1.2.840.10008.1.2.4.90',
    sourceAeTitle: 'PACS1', // odd length: padded with a space
    receivingAeTitle: 'ANATOMYGW',
  });
  assert.equal(header.subarray(128, 132).toString('latin1'), 'DICM');
  assert.ok(header.subarray(0, 128).every((b) => b === 0));
  assert.equal(header.length % 2, 0);
  // A tiny explicit-VR-LE data set after the header: (0008,0018) UI.
  const body = Buffer.from([0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0x0a, 0x00, ...Buffer.from('1.2.3.4.5\0')]);
  const ds = dicomParser.parseDicom(new Uint8Array(Buffer.concat([header, body])));
  assert.equal(ds.string('x00020002'), '1.2.840.10008.5.1.4.1.1.2');
  assert.equal(ds.string('x00020003'), '1.2.3.4.5');
  assert.equal(ds.string('x00020010'), '1.2.840.10008.1.2.4.90');
  assert.equal(ds.string('x00020012'), IMPLEMENTATION_CLASS_UID);
  assert.equal(ds.string('x00020016'), 'PACS1');
  assert.equal(ds.string('x00020018'), 'ANATOMYGW');
  const groupLength = ds.uint32('x00020000');
  assert.equal(groupLength, header.length - 132 - 12);
});

test('part10Header refuses UIDs that would make an invalid file', () => {
  const ok = {
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    sopInstanceUid: '1.2.3',
    transferSyntaxUid: '1.2.840.10008.1.2.1',
  };
  assert.throws(() => part10Header({ ...ok, sopInstanceUid: '' }), /SOP Instance UID is not a valid UID/);
  assert.throws(() => part10Header({ ...ok, sopInstanceUid: `1.${'2'.repeat(70)}` }), /not a valid UID/);
  assert.throws(() => part10Header({ ...ok, sopClassUid: '1.2.x' }), /SOP Class UID is not a valid UID/);
});

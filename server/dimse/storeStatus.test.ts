import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import { errorComment, lowDiskOutcome, outcomeForError, StoreStatus } from './storeStatus.ts';

test('ingest refusals keep their DICOM failure reason as the C-STORE status, with the reason as comment', () => {
  const cannot = outcomeForError(
    new InstanceRejectedError(FailureReason.CannotUnderstand, 'not a DICOM file: no DICM prefix'),
  );
  assert.equal(cannot.status, 0xc000);
  assert.equal(cannot.comment, 'not a DICOM file: no DICM prefix');
  assert.equal(
    outcomeForError(new InstanceRejectedError(FailureReason.OutOfResources, 'out of disk space')).status,
    0xa700,
  );
  assert.equal(outcomeForError(new InstanceRejectedError(FailureReason.ProcessingFailure, 'db down')).status, 0x0110);
  assert.equal(
    outcomeForError(new InstanceRejectedError(FailureReason.TransferSyntaxNotSupported, 'MPEG')).status,
    0xc122,
  );
});

test('a full disk while receiving is "out of resources"; anything unexpected is "processing failure"', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.equal(outcomeForError(enospc).status, StoreStatus.OutOfResources);
  const other = outcomeForError(new TypeError('boom'));
  assert.equal(other.status, StoreStatus.ProcessingFailure);
  assert.match(other.comment ?? '', /could not be stored/);
});

test('error comments fit the 64-character LO value and carry no line breaks or backslashes', () => {
  const c = errorComment(`a\\b\nc ${'x'.repeat(100)}`);
  assert.ok(c.length <= 64);
  assert.doesNotMatch(c, /[\\\n]/);
  assert.match(lowDiskOutcome(512.7, 1024).comment ?? '', /512 MB free, MIN_FREE_DISK_MB is 1024/);
  assert.equal(lowDiskOutcome(1, 2).status, 0xa700);
});

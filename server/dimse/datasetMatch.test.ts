import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureReason, InstanceRejectedError } from '../dicom/failure.ts';
import { commandCheck } from './datasetMatch.ts';
import { errorComment, outcomeForError } from './storeStatus.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const SR = '1.2.840.10008.5.1.4.1.1.88.11';

test('a data set whose SOP Class or Instance UID contradicts the C-STORE command is refused with 0xA900 naming which', () => {
  const check = commandCheck(CT, '1.2.3.999\0');
  assert.doesNotThrow(() => check({ sopClassUid: CT, sopInstanceUid: '1.2.3.999' }));
  for (const [header, which] of [
    [{ sopClassUid: SR, sopInstanceUid: '1.2.3.999' }, 'SOP Class UID'],
    [{ sopClassUid: CT, sopInstanceUid: '1.2.826.0.1.466.4' }, 'SOP Instance UID'],
  ] as const) {
    assert.throws(
      () => check(header),
      (e: unknown) => {
        assert.ok(e instanceof InstanceRejectedError);
        assert.equal(e.reason, FailureReason.DataSetDoesNotMatchSopClass);
        assert.match(e.message, new RegExp(`^${which} in data set differs from the command`));
        const outcome = outcomeForError(e);
        assert.equal(outcome.status, 0xa900);
        assert.equal(outcome.comment, errorComment(e.message));
        assert.match(outcome.comment ?? '', new RegExp(which));
        return true;
      },
    );
  }
});

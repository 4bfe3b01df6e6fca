import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DECODABLE_TRANSFER_SYNTAXES } from '../dicom/transferSyntaxes.ts';

test('supported transfer syntaxes are listed by UID with names', () => {
  assert.equal(DECODABLE_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.90'], 'JPEG 2000 Image Compression (Lossless Only)');
  assert.equal(DECODABLE_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.201'], undefined);
});

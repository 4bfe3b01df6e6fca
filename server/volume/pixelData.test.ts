import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUPPORTED_TRANSFER_SYNTAXES } from './pixelData.ts';

test('supported transfer syntaxes are listed by UID with names', () => {
  assert.equal(SUPPORTED_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.90'], 'JPEG 2000 Image Compression (Lossless Only)');
  assert.equal(SUPPORTED_TRANSFER_SYNTAXES['1.2.840.10008.1.2.4.201'], undefined);
});

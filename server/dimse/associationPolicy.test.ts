import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../config/config.ts';
import { allowedCallingAets, decideAssociation, decidePresentationContext } from './associationPolicy.ts';

const policy = { aeTitle: 'ANATOMYGW', allowedAets: [] as string[], maxAssociations: 4 };
const CT = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const J2K_LOSSLESS = '1.2.840.10008.1.2.4.90';

test('an association to our AE title is accepted from anyone when the allow-list is empty', () => {
  assert.deepEqual(decideAssociation({ callingAet: 'ANY', calledAet: 'ANATOMYGW', activeAssociations: 0 }, policy), {
    accept: true,
  });
  // Space padding on the wire is not significant.
  assert.deepEqual(
    decideAssociation({ callingAet: 'ANY ', calledAet: ' ANATOMYGW  ', activeAssociations: 0 }, policy),
    { accept: true },
  );
});

test('a wrong called AE title is refused permanently with "called AE title not recognized"', () => {
  const d = decideAssociation({ callingAet: 'PACS', calledAet: 'OTHER', activeAssociations: 0 }, policy);
  assert.equal(d.accept, false);
  assert.ok(!d.accept);
  assert.equal(d.reason, 'called-ae-not-recognized');
  assert.equal(d.result, 'permanent');
  assert.equal(d.source, 'service-user');
  // AE titles are case-sensitive (PS3.5 6.2): a lower-case title is another AE.
  assert.equal(
    decideAssociation({ callingAet: 'PACS', calledAet: 'anatomygw', activeAssociations: 0 }, policy).accept,
    false,
  );
});

test('a calling AE title outside DIMSE_ALLOWED_AETS is refused with "calling AE title not recognized"', () => {
  const p = { ...policy, allowedAets: ['PACS1', 'CT01'] };
  assert.deepEqual(decideAssociation({ callingAet: 'CT01', calledAet: 'ANATOMYGW', activeAssociations: 0 }, p), {
    accept: true,
  });
  const d = decideAssociation({ callingAet: 'INTRUDER', calledAet: 'ANATOMYGW', activeAssociations: 0 }, p);
  assert.ok(!d.accept);
  assert.equal(d.reason, 'calling-ae-not-recognized');
  assert.equal(d.result, 'permanent');
  assert.match(d.why, /INTRUDER/);
});

test('with DIMSE_ALLOWED_AETS set, the AE titles of the PACS_NODES DIMSE nodes may call too (C-MOVE delivers that way)', () => {
  const nodes = [
    { name: 'mover', dimse: { host: '10.0.0.5', port: 104, aeTitle: 'PACS_MOVE', retrieve: 'move' } },
    { name: 'getter', dimse: { host: '10.0.0.6', port: 104, aeTitle: 'PACS_GET' } },
    { name: 'web', dicomweb: { url: 'https://pacs.example/dicom-web' } },
  ];
  const config = loadConfig({ DIMSE_ALLOWED_AETS: 'CT01, MR02', PACS_NODES: JSON.stringify(nodes) });
  const allowed = allowedCallingAets(config);
  assert.deepEqual(allowed.sort(), ['CT01', 'MR02', 'PACS_GET', 'PACS_MOVE']);
  const p = { ...policy, allowedAets: allowed };
  const ask = (callingAet: string) =>
    decideAssociation({ callingAet, calledAet: 'ANATOMYGW', activeAssociations: 0 }, p);
  assert.deepEqual(ask('PACS_MOVE'), { accept: true });
  assert.deepEqual(ask('CT01'), { accept: true });
  const refused = ask('ORTHANC');
  assert.ok(!refused.accept);
  assert.equal(refused.reason, 'calling-ae-not-recognized');
  assert.match(refused.why, /"ORTHANC" is neither in DIMSE_ALLOWED_AETS nor the AE title of a PACS_NODES node/);
  // Without DIMSE_ALLOWED_AETS nobody is refused: the nodes do not turn an open door into a list.
  assert.deepEqual(allowedCallingAets(loadConfig({ PACS_NODES: JSON.stringify(nodes) })), []);
});

test('too many open associations is a transient refusal (the sender retries later)', () => {
  const d = decideAssociation({ callingAet: 'PACS', calledAet: 'ANATOMYGW', activeAssociations: 4 }, policy);
  assert.ok(!d.accept);
  assert.equal(d.reason, 'local-limit-exceeded');
  assert.equal(d.result, 'transient');
  assert.equal(d.source, 'service-provider-presentation');
});

const BIG_ENDIAN = '1.2.840.10008.1.2.2';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
const J2K = '1.2.840.10008.1.2.4.91';
const RLE = '1.2.840.10008.1.2.5';
const accepts = (proposed: string[]): string | undefined => {
  const d = decidePresentationContext(CT, proposed);
  return d.accept ? d.transferSyntaxUid : undefined;
};

test('a context is accepted in Explicit VR LE, then Implicit VR LE, then Big Endian, whatever the proposal order', () => {
  // storescu +C -xy and +C -xs: the lossy or compressed syntax first, then the uncompressed ones.
  assert.equal(accepts([JPEG_BASELINE, EXPLICIT_LE, BIG_ENDIAN, IMPLICIT_LE]), EXPLICIT_LE);
  assert.equal(accepts([JPEG_LOSSLESS_SV1, EXPLICIT_LE, BIG_ENDIAN, IMPLICIT_LE]), EXPLICIT_LE);
  assert.equal(accepts([IMPLICIT_LE, BIG_ENDIAN, EXPLICIT_LE]), EXPLICIT_LE);
  assert.equal(accepts([J2K_LOSSLESS, BIG_ENDIAN, IMPLICIT_LE]), IMPLICIT_LE);
  assert.equal(accepts([J2K_LOSSLESS, BIG_ENDIAN]), BIG_ENDIAN);
});

test('lossless compression is preferred to any lossy syntax; a lossy one is taken only when nothing else is offered', () => {
  assert.equal(accepts([JPEG_BASELINE, J2K_LOSSLESS]), J2K_LOSSLESS);
  assert.equal(accepts([J2K, JPEG_BASELINE, JPEG_LOSSLESS_SV1]), JPEG_LOSSLESS_SV1);
  assert.equal(accepts(['1.2.840.10008.1.2.4.81', RLE]), RLE, 'JPEG-LS near-lossless is lossy');
  // Among lossless (or among lossy) syntaxes the sender's order decides: its images stay as they are.
  assert.equal(accepts([RLE, J2K_LOSSLESS]), RLE);
  assert.equal(accepts([J2K_LOSSLESS, RLE]), J2K_LOSSLESS);
  assert.equal(accepts([J2K_LOSSLESS]), J2K_LOSSLESS);
  assert.equal(accepts([JPEG_BASELINE]), JPEG_BASELINE);
  assert.equal(accepts([J2K, JPEG_BASELINE]), J2K);
  // MPEG-2 is not decodable: skipped in favour of the next proposal, or the context is refused.
  assert.equal(accepts(['1.2.840.10008.1.2.4.100', JPEG_BASELINE]), JPEG_BASELINE);
  assert.equal(accepts(['1.2.840.10008.1.2.4.100', IMPLICIT_LE]), IMPLICIT_LE);
  assert.deepEqual(decidePresentationContext(CT, ['1.2.840.10008.1.2.4.100']), {
    accept: false,
    reason: 'transfer-syntaxes-not-supported',
  });
});

test('every syntax we decode is accepted when it is the only one offered', () => {
  for (const ts of [
    '1.2.840.10008.1.2.1.99',
    '1.2.840.10008.1.2.2',
    '1.2.840.10008.1.2.5',
    '1.2.840.10008.1.2.4.50',
    '1.2.840.10008.1.2.4.51',
    '1.2.840.10008.1.2.4.57',
    '1.2.840.10008.1.2.4.70',
    '1.2.840.10008.1.2.4.80',
    '1.2.840.10008.1.2.4.81',
    '1.2.840.10008.1.2.4.91',
  ]) {
    assert.equal(decidePresentationContext(CT, [ts]).accept, true, ts);
  }
});

test('every storage SOP class and Verification are accepted; other services are not', () => {
  for (const sop of [
    '1.2.840.10008.5.1.4.1.1.4',
    '1.2.840.10008.5.1.4.1.1.88.22',
    '1.2.840.10008.5.1.4.1.1.481.3',
    '1.2.840.10008.5.1.4.1.1.104.1',
    '1.2.840.10008.5.1.4.1.1.66.4',
    '1.2.840.10008.5.1.4.34.7',
    '1.2.840.10008.5.1.4.38.1',
  ]) {
    assert.equal(decidePresentationContext(sop, [EXPLICIT_LE]).accept, true, sop);
  }
  assert.deepEqual(decidePresentationContext('1.2.840.10008.1.1', [IMPLICIT_LE]), {
    accept: true,
    transferSyntaxUid: IMPLICIT_LE,
  });
  for (const sop of [
    '1.2.840.10008.5.1.4.1.2.1.1' /* Q/R FIND */,
    '1.2.840.10008.5.1.4.31' /* worklist */,
    '1.2.840.10008.1.20.1' /* commitment */,
    '1.3.12.2.1107.5.9.1' /* private */,
  ]) {
    assert.deepEqual(
      decidePresentationContext(sop, [EXPLICIT_LE]),
      { accept: false, reason: 'abstract-syntax-not-supported' },
      sop,
    );
  }
});

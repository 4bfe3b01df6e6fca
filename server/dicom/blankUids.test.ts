import assert from 'node:assert/strict';
import { test } from 'node:test';
import dicomParser from 'dicom-parser';
import { TS, writePart10, type Element, type WritableTransferSyntax } from '../../test/support/dicomPart10.ts';
import { fillBlankUids } from './blankUids.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';

/** One small CT slice with its UIDs blank (as an anonymiser leaves them), at slice `k` with `orientation`. */
function anonymisedSlice(
  k: number,
  options: { orientation?: number[]; ts?: WritableTransferSyntax; withUids?: boolean } = {},
): Buffer {
  const uid = (v: string): string => (options.withUids ? v : '');
  const elements: Element[] = [
    { tag: '00080016', vr: 'UI', value: '' },
    { tag: '00080018', vr: 'UI', value: uid(`1.2.3.4.${k + 1}`) },
    { tag: '00080020', vr: 'DA', value: '20221208' },
    { tag: '00080060', vr: 'CS', value: 'CT' },
    { tag: '0008103E', vr: 'LO', value: 'CT Body 3.0' },
    { tag: '00100010', vr: 'PN', value: '' },
    { tag: '0020000D', vr: 'UI', value: uid('1.2.3') },
    { tag: '0020000E', vr: 'UI', value: uid('1.2.3.4') },
    { tag: '00200013', vr: 'IS', value: k + 1 },
    { tag: '00200032', vr: 'DS', value: [0, 0, 3 * k] },
    { tag: '00200037', vr: 'DS', value: options.orientation ?? [1, 0, 0, 0, 1, 0] },
    { tag: '00200052', vr: 'UI', value: '1.3.12.2.1107.5.1.4.60064.41' },
    { tag: '00280010', vr: 'US', value: 2 },
    { tag: '00280011', vr: 'US', value: 2 },
    { tag: '00280030', vr: 'DS', value: [0.9765625, 0.9765625] },
    { tag: '7FE00010', vr: 'OW', value: new Uint16Array([k, k + 1, k + 2, k + 3]) },
  ];
  // The file meta keeps the SOP Class but its SOP Instance UID is whatever the anonymiser left.
  return writePart10(elements, {
    sopClassUid: CT,
    sopInstanceUid: '1.9.9',
    transferSyntax: options.ts ?? TS.explicitLittle,
  });
}

function uids(bytes: Buffer) {
  const ds = dicomParser.parseDicom(bytes);
  const metaLength = ds.uint32('x00020000') ?? 0;
  return {
    study: ds.string('x0020000d'),
    series: ds.string('x0020000e'),
    sop: ds.string('x00080018'),
    sopClass: ds.string('x00080016'),
    mediaSop: ds.string('x00020003'),
    // The group length must still end exactly where the data set starts.
    metaEnds: ds.elements.x00020010.dataOffset < 132 + 12 + metaLength,
    firstDataset: Object.values(ds.elements)
      .filter((e) => !e.tag.startsWith('x0002'))
      .sort((a, b) => a.dataOffset - b.dataOffset)[0]?.dataOffset,
    metaLength,
    pixels: ds.elements.x7fe00010.length,
  };
}

test('blank UIDs become 2.25 UIDs from the content: one series per geometry, the same every time', () => {
  const slices = [0, 1, 2].map((k) => fillBlankUids(anonymisedSlice(k)));
  const tilted = fillBlankUids(anonymisedSlice(3, { orientation: [1, 0, 0, 0, 0.8, -0.6] }));
  assert.ok(slices.every(Boolean) && tilted);
  const read = slices.map((s) => uids(s!.bytes));
  assert.deepEqual(slices[0]!.generated, ['Study Instance UID', 'Series Instance UID', 'SOP Instance UID']);
  for (const r of read) {
    assert.match(r.series ?? '', /^2\.25\.\d{20,39}$/);
    assert.equal(r.series, read[0].series, 'one series');
    assert.equal(r.study, read[0].study);
    assert.equal(r.sop, r.mediaSop, 'the file meta names the same instance');
    assert.equal(r.sopClass, CT, 'a blank SOP Class UID is taken from the file meta');
    assert.equal(r.pixels, 8, 'pixel data untouched');
    assert.ok(r.metaEnds);
    assert.equal((r.firstDataset ?? 0) - 132 - 12 - r.metaLength, 8, 'group length covers the grown meta');
  }
  assert.equal(new Set(read.map((r) => r.sop)).size, 3, 'one SOP Instance UID per file');
  const other = uids(tilted!.bytes);
  assert.notEqual(other.series, read[0].series, 'another geometry is another series');
  assert.equal(other.study, read[0].study, 'in the same study');

  // The same files again: the same UIDs, byte for byte the same files.
  assert.deepEqual(fillBlankUids(anonymisedSlice(1))!.bytes, slices[1]!.bytes);
});

test('implicit VR files are filled too; files with their UIDs, and big endian ones, are left as they are', () => {
  const implicit = fillBlankUids(anonymisedSlice(0, { ts: TS.implicitLittle }));
  assert.ok(implicit);
  const r = uids(implicit.bytes);
  assert.match(r.study ?? '', /^2\.25\./);
  assert.equal(r.sop, r.mediaSop);
  assert.equal(fillBlankUids(anonymisedSlice(0, { withUids: true })), undefined);
  assert.equal(fillBlankUids(anonymisedSlice(0, { ts: TS.explicitBig })), undefined);
  assert.equal(fillBlankUids(Buffer.from('not dicom')), undefined);
});

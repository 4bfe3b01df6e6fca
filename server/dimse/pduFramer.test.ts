import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PduFramer, PduFramingError } from './pduFramer.ts';

function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header[0] = type;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

const stream = (): Buffer[] => [
  pdu(0x01, Buffer.from('A-ASSOCIATE-RQ body')),
  pdu(0x04, Buffer.alloc(3000, 7)),
  pdu(0x04, Buffer.alloc(0)),
  pdu(0x04, Buffer.from([1, 2, 3, 4, 5])),
  pdu(0x05, Buffer.alloc(4)),
];

test('whole PDUs come out in order however the stream is cut, at every byte and in two places at once', () => {
  const pdus = stream();
  const bytes = Buffer.concat(pdus);
  const cuts: number[][] = [];
  for (let a = 0; a <= bytes.length; a++) cuts.push([a]);
  for (let a = 0; a <= bytes.length; a += 97) for (let b = a; b <= bytes.length; b += 89) cuts.push([a, b]);
  cuts.push(Array.from({ length: bytes.length }, (_, i) => i)); // one byte at a time
  for (const at of cuts) {
    const out: Buffer[] = [];
    const framer = new PduFramer((p) => out.push(Buffer.from(p)), 1 << 20);
    let from = 0;
    for (const to of [...at, bytes.length]) {
      framer.push(bytes.subarray(from, to));
      from = to;
    }
    assert.deepEqual(out, pdus, `cut at ${at.length > 3 ? 'every byte' : at.join(', ')}`);
  }
});

test('a PDU inside one chunk is handed on without a copy', () => {
  const one = pdu(0x04, Buffer.alloc(64, 1));
  const chunk = Buffer.concat([one, one]);
  const out: Buffer[] = [];
  new PduFramer((p) => out.push(p), 1 << 20).push(chunk);
  assert.equal(out.length, 2);
  assert.equal(out[0].buffer, chunk.buffer, 'a view of the socket chunk');
});

test('an unknown PDU type or a PDU over the limit breaks the stream with a reason', () => {
  const unknown = new PduFramer(() => undefined, 1 << 20);
  assert.throws(
    () => unknown.push(pdu(0x09, Buffer.alloc(2))),
    (e: unknown) => e instanceof PduFramingError && /unknown PDU type 0x09/.test(e.message),
  );
  assert.throws(
    () => unknown.push(pdu(0x04, Buffer.alloc(2))),
    PduFramingError,
    'nothing is read after a broken stream',
  );

  const big = new PduFramer(() => assert.fail('nothing whole yet'), 1000);
  const header = Buffer.alloc(6);
  header[0] = 0x04;
  header.writeUInt32BE(5000, 2);
  assert.throws(() => big.push(header), /5000 bytes is larger than the 1000/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  MultipartRelatedTokenizer,
  MultipartSyntaxError,
  isValidBoundary,
  type MultipartEvent,
} from './multipartRelated.ts';
import { multipartRelated } from '../../test/support/dicomweb.ts';

interface Part {
  headers: Record<string, string>;
  body: Buffer;
  complete: boolean;
}

function collect(events: MultipartEvent[], parts: Part[]): void {
  for (const ev of events) {
    if (ev.type === 'part') parts.push({ headers: ev.headers, body: Buffer.alloc(0), complete: false });
    else if (ev.type === 'data') {
      const p = parts[parts.length - 1];
      p.body = Buffer.concat([p.body, ev.chunk]);
    } else parts[parts.length - 1].complete = ev.complete;
  }
}

function parse(body: Buffer, boundary: string, splits: number[] = []): Part[] {
  const tok = new MultipartRelatedTokenizer(boundary);
  const parts: Part[] = [];
  let last = 0;
  for (const s of [...splits, body.length]) {
    collect(tok.write(body.subarray(last, s)), parts);
    last = s;
  }
  collect(tok.end(), parts);
  return parts;
}

// Payloads that contain near-boundary bytes: CR, LF, dashes and a prefix of the boundary itself.
const boundary = 'b0und-ary:x';
const payloads = [
  Buffer.concat([Buffer.from('DICM\r\n--b0und-ary'), randomBytes(50), Buffer.from('\r\n--b0und')]),
  Buffer.from('\r\n\r\n--\r\n'),
  Buffer.alloc(0),
  randomBytes(300),
];

test('a real body split at every byte offset yields the same parts', () => {
  const body = multipartRelated(payloads, boundary, { preamble: 'preamble text', epilogue: 'epilogue\r\n' });
  const expected = parse(body, boundary);
  assert.equal(expected.length, payloads.length);
  expected.forEach((p, i) => {
    assert.deepEqual(p.body, payloads[i]);
    assert.equal(p.complete, true);
    assert.equal(p.headers['content-type'], 'application/dicom');
  });
  for (let at = 0; at <= body.length; at++) {
    assert.deepEqual(parse(body, boundary, [at]), expected, `split at ${at}`);
  }
  // Byte-at-a-time too.
  assert.deepEqual(
    parse(
      body,
      boundary,
      Array.from({ length: body.length }, (_, i) => i),
    ),
    expected,
  );
});

test('no preamble: the body may start with the boundary itself', () => {
  const body = multipartRelated([Buffer.from('abc')], 'XyZ');
  assert.ok(body.subarray(0, 5).equals(Buffer.from('--XyZ')));
  const parts = parse(body, 'XyZ');
  assert.equal(parts.length, 1);
  assert.equal(parts[0].body.toString(), 'abc');
});

test('transport padding after a delimiter and folded headers are accepted', () => {
  const body = Buffer.from(
    '--B \t\r\nContent-Type: application/dicom;\r\n transfer-syntax=1.2.840.10008.1.2.1\r\n\r\nDATA\r\n--B--',
  );
  const parts = parse(body, 'B');
  assert.equal(parts.length, 1);
  assert.equal(parts[0].body.toString(), 'DATA');
  assert.equal(parts[0].headers['content-type'], 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
});

test('a missing final boundary marks the last part incomplete, earlier parts complete', () => {
  const full = multipartRelated([Buffer.from('first'), Buffer.from('second-part')], 'q', { close: false });
  const cut = full.subarray(0, full.length - 6); // drop the final CRLF and part of the last body
  const parts = parse(cut, 'q');
  assert.equal(parts.length, 2);
  assert.equal(parts[0].complete, true);
  assert.equal(parts[0].body.toString(), 'first');
  assert.equal(parts[1].complete, false);
});

test('a body without the declared boundary is a syntax error', () => {
  assert.throws(() => parse(Buffer.from('just some bytes, no multipart here'), 'zzz'), MultipartSyntaxError);
  const big = Buffer.alloc(200_000, 0x41);
  assert.throws(() => new MultipartRelatedTokenizer('zzz').write(big), /does not contain the boundary/);
});

test('oversized part headers are refused', () => {
  const body = Buffer.concat([Buffer.from('--b\r\nX-Long: '), Buffer.alloc(20_000, 0x61)]);
  assert.throws(() => new MultipartRelatedTokenizer('b').write(body), /part headers exceed/);
});

test('boundary syntax follows RFC 2046', () => {
  assert.equal(isValidBoundary('simple'), true);
  assert.equal(isValidBoundary('with space inside'), true);
  assert.equal(isValidBoundary('trailing '), false);
  assert.equal(isValidBoundary(''), false);
  assert.equal(isValidBoundary(`${crypto.randomUUID()}-${crypto.randomUUID()}`), true, 'Orthanc sends 73 characters');
  assert.equal(isValidBoundary('x'.repeat(201)), false);
  assert.throws(() => new MultipartRelatedTokenizer('bad"quote'), MultipartSyntaxError);
});

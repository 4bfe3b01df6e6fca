import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger, humanLine } from './log.ts';

test('a terminal gets one readable line per record; patient fields stay redacted', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('info', sink, { human: true });
  logger.info({ port: 8080, note: 'two words' }, 'listening');
  logger.warn({ patientName: 'DOE^JANE' }, 'careful');
  assert.match(lines[0], /^\d\d:\d\d:\d\d info listening port=8080 note="two words"\n$/);
  assert.match(lines[1], /^\d\d:\d\d:\d\d WARN careful patientName=\[redacted\]\n$/);
  assert.ok(!lines.join('').includes('DOE'));
  assert.equal(humanLine('not json'), 'not json\n');
});

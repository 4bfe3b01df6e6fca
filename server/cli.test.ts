import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpText, parseArgs, UsageError } from './cli.ts';
import { SETTINGS } from './config/config.ts';

test('commands and flags: flags mirror the environment settings', () => {
  assert.deepEqual(parseArgs([]), { command: 'serve', env: {} });
  assert.deepEqual(parseArgs(['worker', '--worker-concurrency', '3', '--database-url=postgres://h/db']), {
    command: 'worker',
    env: { WORKER_CONCURRENCY: '3', DATABASE_URL: 'postgres://h/db' },
  });
  assert.equal(parseArgs(['migrate', '--help']).command, 'help');
  assert.throws(() => parseArgs(['serve', '--colour', 'red']), UsageError);
  assert.throws(() => parseArgs(['launch']), UsageError);
  assert.throws(() => parseArgs(['serve', '--port']), UsageError);
});

test('--help lists every command and setting', () => {
  const text = helpText();
  for (const c of ['serve', 'worker', 'migrate', 'doctor']) assert.match(text, new RegExp(`\\n  ${c} `));
  for (const s of SETTINGS) assert.ok(text.includes(s.name), s.name);
});

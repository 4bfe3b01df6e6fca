import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from '../../server/engines/runProgram.ts';
import { FAKE_SLICER, tempDir } from './engineHarness.ts';

/**
 * The fake Slicer must take from the command line what the real one's layers take (CTK launcher,
 * Qt, xcb, Slicer's own parser), or a script option that a real Slicer eats would pass the tests.
 */

async function scriptArgv(t: Parameters<typeof tempDir>[0], args: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir(t, 'fake-slicer-');
  const script = join(dir, 'dump.py');
  const out = join(dir, 'argv.json');
  writeFileSync(script, `import json, sys\njson.dump(sys.argv[1:], open(${JSON.stringify(out)}, "w"))\nsys.exit(0)\n`);
  await runProgram({
    command: FAKE_SLICER,
    args: ['--no-splash', '--no-main-window', '--python-script', script, ...args],
    env: { ...process.env, QT_QPA_PLATFORM: '', ...env },
    timeoutMs: 60_000,
  });
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

// Each option as the issue lists it, checked against qtbase (qguiapplication.cpp, qapplication.cpp, qxcbintegration.cpp).
const WITH_VALUE = [
  '-display',
  '-name',
  '-visual',
  '-platform',
  '-platformpluginpath',
  '-platformtheme',
  '-plugin',
  '-qwindowgeometry',
  '-qwindowtitle',
  '-qwindowicon',
  '-session',
  '-style',
  '-stylesheet',
  // xcb is the platform: QGuiApplication also reads X11's own names.
  '-geometry',
  '-title',
  '-icon',
];
const FLAGS = ['-nograb', '-dograb', '-reverse', '-testability', '-widgetcount'];

test('Qt takes its options, with one dash or two, before the script sees its arguments', async (t) => {
  const args: string[] = [];
  const kept: string[] = [];
  WITH_VALUE.forEach((o, i) => {
    // -platform's value is a platform: keep xcb so the xcb options stay xcb's.
    const value = o === '-platform' ? 'xcb' : `v${i}`;
    args.push(i % 2 ? `-${o}` : o, value, `keep${i}`);
    kept.push(`keep${i}`);
  });
  FLAGS.forEach((o, i) => {
    args.push(i % 2 ? o : `-${o}`, `flagkeep${i}`);
    kept.push(`flagkeep${i}`);
  });
  args.push('-style=fusion', '--stylesheet=a.qss', 'last');
  kept.push('last');
  assert.deepEqual(await scriptArgv(t, args), kept);
});

test("the gateway's old command line lost --name on Linux, and Slicer takes its own options anywhere", async (t) => {
  assert.deepEqual(
    await scriptArgv(t, ['--input', 'ct.nii.gz', '--output-dir', 'out', '--name', 'case_1', '--task', 'total']),
    ['--input', 'ct.nii.gz', '--output-dir', 'out', '--task', 'total'],
  );
  assert.deepEqual(
    await scriptArgv(t, ['job.json', '--disable-settings', '--additional-module-paths', 'a', 'b', '--attach-process']),
    ['job.json'],
  );
  // After "--" Slicer takes nothing more, but Qt knows no "--": -name still goes.
  assert.deepEqual(await scriptArgv(t, ['--launcher-timeout', '10', '--', '--version', '-name', 'x']), ['--version']);
  // Not on xcb, -name and -display are nobody's.
  assert.deepEqual(await scriptArgv(t, ['-name', 'x', '--display', 'y'], { QT_QPA_PLATFORM: 'offscreen' }), [
    '-name',
    'x',
    '--display',
    'y',
  ]);
});

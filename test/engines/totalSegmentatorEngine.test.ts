import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgramError, processGroupAlive } from '../../server/engines/runProgram.ts';
import {
  createTotalSegmentatorEngine,
  totalSegmentatorArguments,
  type TotalSegmentatorEngineOptions,
} from '../../server/engines/totalsegmentator/totalSegmentatorEngine.ts';
import { exportModels } from '../../server/mesh/exportModels.ts';
import { validateGltf, errorLines } from '../../server/mesh/gltfValidation.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import {
  FAKE_TOTALSEGMENTATOR,
  makeContext,
  pidAlive,
  readPredictionEvents,
  tempDir,
  waitUntil,
  writeSyntheticCase,
} from './engineHarness.ts';

test('TotalSegmentator arguments follow the CLI contract', () => {
  assert.deepEqual(
    totalSegmentatorArguments(
      { executable: 'x', timeoutSeconds: 1, quality: 'fast', device: 'cpu', subset: ['liver', 'spleen'] },
      'in.nii.gz',
      'seg.nii.gz',
    ),
    ['-i', 'in.nii.gz', '-o', 'seg.nii.gz', '--ml', '--fast', '--roi_subset', 'liver', 'spleen', '--device', 'cpu'],
  );
  assert.deepEqual(totalSegmentatorArguments({ executable: 'x', timeoutSeconds: 1 }, 'a', 'b'), [
    '-i',
    'a',
    '-o',
    'b',
    '--ml',
    '--device',
    'gpu',
  ]);
  assert.deepEqual(
    totalSegmentatorArguments(
      { executable: 'x', timeoutSeconds: 1, quality: 'fastest', task: 'total_mr', device: 'mps' },
      'a',
      'b',
    ).slice(5),
    ['--fastest', '--task', 'total_mr', '--device', 'mps'],
  );
});

/** A synthetic case, an engine on the fake CLI with its home in the test's folder, and a context. */
async function setup(
  t: Parameters<typeof tempDir>[0],
  fakeEnv: Record<string, string>,
  opts: Partial<TotalSegmentatorEngineOptions> = {},
) {
  const dir = tempDir(t, 'totalseg-');
  const c = await writeSyntheticCase(dir);
  const events = join(dir, 'events.jsonl');
  const engine = createTotalSegmentatorEngine({
    executable: FAKE_TOTALSEGMENTATOR,
    timeoutSeconds: 60,
    killGraceSeconds: 1,
    device: 'cpu',
    env: {
      ...process.env,
      PYTHONUNBUFFERED: '',
      TOTALSEG_HOME_DIR: join(dir, 'home'),
      FAKE_TOTALSEG_OUTPUT: c.segPath,
      FAKE_TOTALSEG_EVENTS: events,
      ...fakeEnv,
    },
    ...opts,
  });
  const ctx = makeContext(dir);
  const input = { volume: c.volume, niftiPath: c.ctPath, name: 'case' };
  return { dir, c, engine, ctx, input, events };
}

test('TotalSegmentator engine on the reference CT: structure-table names, valid glTF from our mesher', async (t) => {
  if (!requireTestData(t)) return;
  const dir = tempDir(t, 'totalseg-real-');
  const ctPath = testDataPath('nifti/totalsegmentator/example_ct_sm.nii.gz');
  const volume = await readNifti(ctPath);
  const engine = createTotalSegmentatorEngine({
    executable: FAKE_TOTALSEGMENTATOR,
    timeoutSeconds: 60,
    quality: 'fast',
    device: 'cpu',
    version: '2.13.0',
    env: { ...process.env, TOTALSEG_HOME_DIR: join(dir, 'home') },
  });
  const ctx = makeContext(dir);
  const result = await engine.run({ volume, niftiPath: ctPath, name: 'example_ct_sm' }, ctx);
  const reference = await readNifti(testDataPath('nifti/totalsegmentator/example_seg_fast.nii.gz'));
  assert.deepEqual(Array.from(result.labelMap.data), Array.from(reference.data));
  const names = new Map(result.segments.map((s) => [s.label, s.name]));
  assert.equal(names.get(5), 'liver');
  assert.equal(names.get(2), 'right kidney');
  assert.equal(names.get(52), 'aorta');
  assert.equal(result.gltfPath, undefined, 'the mesher makes the glTF');
  assert.equal(result.versions?.totalsegmentator, '2.13.0');
  assert.ok(ctx.lines.includes('[totalsegmentator] Predicting...'), 'fast mode runs one model');
  assert.ok(
    ctx.lines.some((l) => l.includes('Downloading model for Task 297')),
    'a first run downloads its model',
  );
  assert.ok(ctx.progressCalls.at(-1)![0] >= 90);

  const out = join(dir, 'out');
  mkdirSync(out);
  const exported = await exportModels({
    labelMap: result.labelMap,
    segments: result.segments,
    outDir: out,
    name: 'example_ct_sm',
    reduction: 0.9,
  });
  const gltfFile = exported.files.find((f) => f.endsWith('.gltf'));
  assert.ok(gltfFile);
  const report = await validateGltf(readFileSync(gltfFile), 'gltf');
  assert.equal(report.issues.numErrors, 0, errorLines(report));
  const gltf = JSON.parse(readFileSync(gltfFile, 'utf8')) as { nodes: Array<{ name?: string; mesh?: number }> };
  const meshNames = gltf.nodes.filter((n) => n.mesh !== undefined).map((n) => n.name);
  assert.ok(meshNames.includes('liver') && meshNames.includes('right kidney'), meshNames.join(','));
});

test('TotalSegmentator engine with generated fixtures: label map checked against the input grid', async (t) => {
  const s = await setup(t, {});
  const result = await s.engine.run(s.input, s.ctx);
  assert.deepEqual(
    result.segments.map((x) => [x.label, x.name, x.totalSegmentatorId]),
    [
      [2, 'right kidney', 2],
      [5, 'liver', 5],
      [52, 'aorta', 52],
    ],
  );
  assert.deepEqual(Array.from(result.labelMap.data), Array.from(s.c.labelMap.data));

  const shifted = { ...s.c.volume, origin: [0, 0, 0] as [number, number, number] };
  const err = await s.engine.run({ ...s.input, volume: shifted, name: 'case2' }, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.match(
    err.message,
    /TotalSegmentator returned a label map whose position or orientation differs from the input volume/,
  );
});

test('fast mode: stage lines arrive as printed and progress moves while TotalSegmentator predicts', async (t) => {
  const s = await setup(t, { FAKE_TOTALSEG_PREDICT_SECONDS: '3' }, { quality: 'fast', progressTickMs: 100 });
  await s.engine.run(s.input, s.ctx);
  const events = readPredictionEvents(s.events);
  const end = events.find((e) => e.event === 'predict-end')!.time;
  const start = events.find((e) => e.event === 'predict-start')!.time;
  // Python holds a pipe's output until exit unless PYTHONUNBUFFERED: the line must come before the prediction ends.
  const predictingLine = s.ctx.lines.indexOf('[totalsegmentator] Predicting...');
  assert.ok(predictingLine >= 0);
  assert.ok(s.ctx.lineTimes[predictingLine]! < end, '"Predicting..." arrived while TotalSegmentator was predicting');
  const during = s.ctx.progressCalls.filter(
    ([, st], i) =>
      st.startsWith('Segmenting with TotalSegmentator') &&
      s.ctx.progressTimes[i]! > start &&
      s.ctx.progressTimes[i]! < end,
  );
  const percents = [...new Set(during.map(([p]) => p))];
  assert.ok(percents.length >= 3, `progress moved during the prediction: ${JSON.stringify(s.ctx.progressCalls)}`);
  const all = s.ctx.progressCalls.map(([p]) => p);
  assert.deepEqual(
    all,
    [...all].sort((a, b) => a - b),
    'never backwards',
  );
  // nnU-Net's bar redraws are not the job log's business: only a full bar is kept.
  const bars = s.ctx.lines.filter((l) => /\d+%\|/.test(l));
  assert.ok(bars.length <= 2 && bars.every((l) => l.includes('100%|')), bars.join('\n'));
});

test('normal quality: the five models show as parts in order', async (t) => {
  const s = await setup(t, { FAKE_TOTALSEG_PREDICT_SECONDS: '0.4' }, { quality: 'normal', progressTickMs: 50 });
  await s.engine.run(s.input, s.ctx);
  const parts = s.ctx.progressCalls
    .map(([, st]) => /part (\d) of 5/.exec(st)?.[1])
    .filter((p): p is string => p !== undefined);
  assert.deepEqual([...new Set(parts)], ['1', '2', '3', '4', '5']);
  const all = s.ctx.progressCalls.map(([p]) => p);
  assert.deepEqual(
    all,
    [...all].sort((a, b) => a - b),
  );
});

test("a task that needs a licence fails at once with TotalSegmentator's own words", async (t) => {
  const s = await setup(t, {}, { task: 'tissue_types' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /^TotalSegmentator refused the job \(exit code 1\): In contrast to the other tasks this task is not openly available\. It requires a license\. .*https:\/\/backend\.totalsegmentator\.com\/license-academic\//,
  );
});

test('options TotalSegmentator rejects fail at once; a crash while predicting may be retried', async (t) => {
  const s = await setup(t, {}, { task: 'cerebral_bleed', quality: 'fast' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.equal(
    err.message,
    'TotalSegmentator refused the job (exit code 1): task cerebral_bleed does not work with option --fast',
  );

  const oom = await setup(t, { FAKE_TOTALSEG_FAIL: 'cuda-oom' });
  const err2 = await oom.engine.run(oom.input, oom.ctx).catch((e: unknown) => e);
  assert.ok(err2 instanceof ProgramError);
  assert.notEqual((err2 as { retryable?: boolean }).retryable, false);
  assert.match(err2.message, /TotalSegmentator failed with exit code 1[\s\S]*RuntimeError: CUDA out of memory/);
});

test('TotalSegmentator engine: failure carries the exit code and stderr', async (t) => {
  const s = await setup(t, {});
  const err = await s.engine
    .run({ ...s.input, niftiPath: join(s.dir, 'missing.nii.gz') }, s.ctx)
    .catch((e: unknown) => e);
  assert.ok(err instanceof ProgramError);
  assert.equal(err.exitCode, 1);
  assert.match(
    err.message,
    /TotalSegmentator failed with exit code 1\nERROR: The input file or directory does not exist\./,
  );

  const missing = createTotalSegmentatorEngine({ executable: join(s.dir, 'TotalSegmentator'), timeoutSeconds: 60 });
  const err2 = await missing.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err2 instanceof Error);
  assert.match(err2.message, /could not start TotalSegmentator.*pip install TotalSegmentator.*TOTALSEGMENTATOR_PATH/);
});

for (const how of ['timeout', 'cancel'] as const) {
  test(
    `TotalSegmentator engine: ${how} of a hung run ends its process group`,
    { skip: process.platform === 'win32' && 'POSIX process groups' },
    async (t) => {
      const dir = tempDir(t, 'totalseg-hang-');
      const pidFile = join(dir, 'pid');
      const s = await setup(
        t,
        { FAKE_TOTALSEG_HANG: '1', FAKE_TOTALSEG_PIDFILE: pidFile },
        { timeoutSeconds: how === 'timeout' ? 4 : 600 },
      );
      const started = Date.now();
      const run = s.engine.run(s.input, s.ctx);
      if (how === 'cancel') {
        await waitUntil(() => s.ctx.lines.some((l) => l.includes('Predicting...')), 10_000);
        s.ctx.abort(new Error('cancelled'));
      }
      const err = await run.catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.ok(Date.now() - started < 15_000);
      assert.match(
        err.message,
        how === 'timeout'
          ? /TotalSegmentator did not finish within 4 s/
          : /TotalSegmentator was stopped: the job was cancelled/,
      );
      const pid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(await waitUntil(() => !pidAlive(pid) && !processGroupAlive(pid), 3000));
    },
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgramError, processGroupAlive } from '../../server/engines/runProgram.ts';
import { createSlicerEngine, type SlicerEngineOptions } from '../../server/engines/slicer/slicerEngine.ts';
import { structureNamed } from '../../server/terminology/structures.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import {
  FAKE_SLICER,
  makeContext,
  pidAlive,
  readPredictionEvents,
  tempDir,
  waitUntil,
  writeSyntheticCase,
} from './engineHarness.ts';

const posix = process.platform !== 'win32';

async function setup(
  t: Parameters<typeof tempDir>[0],
  fakeEnv: Record<string, string>,
  opts: Partial<SlicerEngineOptions> = {},
) {
  const dir = tempDir(t, 'slicer-engine-');
  const c = await writeSyntheticCase(dir);
  const calls = join(dir, 'calls.jsonl');
  const pidFile = join(dir, 'slicer.pid');
  const tsPidFile = join(dir, 'totalsegmentator.pid');
  const events = join(dir, 'events.jsonl');
  const env = {
    ...process.env,
    DISPLAY: ':99',
    PYTHONUNBUFFERED: '',
    TMPDIR: dir,
    TOTALSEG_HOME_DIR: join(dir, 'totalseg-home'),
    FAKE_TOTALSEG_OUTPUT: c.segPath,
    FAKE_TOTALSEG_PREDICT_SECONDS: '0.05',
    FAKE_TOTALSEG_EVENTS: events,
    FAKE_TOTALSEG_PIDFILE: tsPidFile,
    FAKE_SLICER_CALLS: calls,
    FAKE_SLICER_PIDFILE: pidFile,
    FAKE_SLICER_ARGV: join(dir, 'argv.json'),
    ...fakeEnv,
  };
  const engine = createSlicerEngine({
    slicerPath: FAKE_SLICER,
    timeoutSeconds: 60,
    reduction: 0.8,
    env,
    killGraceSeconds: 1,
    progressIntervalMs: 50,
    ...opts,
  });
  const work = join(dir, 'work');
  const ctx = makeContext(work);
  const input = { volume: c.volume, niftiPath: c.ctPath, name: 'case_1' };
  const readCalls = (): Array<Record<string, unknown>> =>
    existsSync(calls)
      ? readFileSync(calls, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  const slicerPid = (): number => Number(readFileSync(pidFile, 'utf8'));
  const scriptArgv = (): string[] => JSON.parse(readFileSync(join(dir, 'argv.json'), 'utf8')) as string[];
  return { dir, c, engine, ctx, input, readCalls, slicerPid, scriptArgv, work, events, tsPidFile };
}

const rgb255 = (c: readonly number[]): number[] => c.map((v) => Math.round(v * 255));

test("Slicer engine: label map, the structure table's names and colours, OpenAnatomy glTF, versions, progress", async (t) => {
  const s = await setup(t, { FAKE_SLICER_TS_API: 'quality' }, { quality: 'fast', device: 'cpu' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.deepEqual(result.labelMap.dims, [20, 16, 10]);
  assert.deepEqual(
    result.segments.map((x) => [x.label, x.name, x.totalSegmentatorId, rgb255(x.color)]),
    [
      [1, 'right kidney', 2, [185, 102, 83]],
      [2, 'liver', 5, [221, 130, 101]],
      [3, 'aorta', 52, [224, 97, 76]],
    ],
  );
  // Labels were renumbered 1..n by Slicer's export; voxels must follow their segment.
  for (let i = 0; i < s.c.labelMap.data.length; i++) {
    const expected = { 0: 0, 2: 1, 5: 2, 52: 3 }[s.c.labelMap.data[i] as 0 | 2 | 5 | 52];
    if (result.labelMap.data[i] !== expected) assert.fail(`voxel ${i}: ${result.labelMap.data[i]} != ${expected}`);
  }
  assert.ok(result.gltfPath && existsSync(result.gltfPath));
  const gltf = JSON.parse(readFileSync(result.gltfPath, 'utf8')) as { nodes: Array<{ name: string }> };
  assert.deepEqual(
    gltf.nodes.map((n) => n.name),
    ['right kidney', 'liver', 'aorta', 'case_1_Models'],
  );
  assert.equal(result.versions?.slicer, '5.6.2');
  assert.equal(result.versions?.engine, 'slicer');
  const process_ = s.readCalls().find((c) => c.call === 'TotalSegmentatorLogic.process');
  assert.deepEqual(process_, {
    call: 'TotalSegmentatorLogic.process',
    quality: 'fast',
    cpu: true,
    task: 'total',
    subset: null,
  });
  const launch = s.readCalls().find((c) => c.call === 'util.launchConsoleProcess') as { args: string[] };
  assert.deepEqual(launch.args.slice(2), [
    ...['-i', launch.args[3]!, '-o', launch.args[5]!],
    ...['--device', 'cpu', '--ml', '--task', 'total', '--fast'],
  ]);
  const exportCall = s.readCalls().find((c) => c.call === 'OpenAnatomyExportLogic.exportModel');
  assert.equal(exportCall?.reductionFactor, 0.8);
  assert.equal(exportCall?.outputFormat, 'glTF');
  const percents = s.ctx.progressCalls.map(([p]) => p);
  assert.deepEqual(
    percents,
    [...percents].sort((a, b) => a - b),
    'progress never goes back',
  );
  assert.ok(s.ctx.progressCalls.some(([, st]) => /Segmenting with TotalSegmentator/.test(st)));
  assert.ok(percents.at(-1)! >= 95);
  assert.ok(s.ctx.lines.some((l) => l.includes('[TotalSegmentator] Predicting...')));
});

test('the script gets its job file and nothing else, so no toolkit can take its options', async (t) => {
  const s = await setup(t, {});
  await s.engine.run(s.input, s.ctx);
  const argv = s.scriptArgv();
  assert.equal(argv.length, 2, JSON.stringify(argv));
  assert.match(argv[0]!, /slicer\/segment_and_export\.py$/);
  const job = JSON.parse(readFileSync(argv[1]!, 'utf8')) as Record<string, unknown>;
  assert.equal(job.name, 'case_1');
  assert.equal(job.input, s.c.ctPath);
  assert.deepEqual((job.structures as Record<string, unknown>).kidney_right, {
    name: 'right kidney',
    color: [...structureNamed('kidney_right')!.color],
  });
});

test('a Slicer job on the reference CT succeeds through a Slicer that strips Qt arguments', async (t) => {
  if (!requireTestData(t)) return;
  const dir = tempDir(t, 'slicer-real-');
  const ctPath = testDataPath('nifti/totalsegmentator/example_ct_sm.nii.gz');
  const volume = await readNifti(ctPath);
  const engine = createSlicerEngine({
    slicerPath: FAKE_SLICER,
    timeoutSeconds: 120,
    reduction: 0.9,
    quality: 'fast',
    device: 'gpu',
    progressIntervalMs: 50,
    env: {
      ...process.env,
      DISPLAY: ':99',
      TMPDIR: dir,
      TOTALSEG_HOME_DIR: join(dir, 'home'),
      // The extension hands TotalSegmentator a copy named total-segmentator-input.nii: the reference is named here.
      FAKE_TOTALSEG_OUTPUT: testDataPath('nifti/totalsegmentator/example_seg_fast.nii.gz'),
    },
  });
  const ctx = makeContext(join(dir, 'work'));
  const result = await engine.run({ volume, niftiPath: ctPath, name: 'example_ct_sm' }, ctx);
  const reference = await readNifti(testDataPath('nifti/totalsegmentator/example_seg_fast.nii.gz'));
  // Slicer renumbers labels 1..n in segment order; each must cover exactly its class's voxels.
  const byLabel = new Map(result.segments.map((x) => [x.label, x.totalSegmentatorId]));
  for (let i = 0; i < reference.data.length; i++) {
    const got = result.labelMap.data[i]!;
    if ((got === 0 ? 0 : byLabel.get(got)) !== reference.data[i]) assert.fail(`voxel ${i}`);
  }
  assert.ok(result.segments.length > 10);
  assert.ok(result.segments.every((x) => x.name === structureNamed(x.name)?.displayName));
  // Without CUDA the extension asks TotalSegmentator for the CPU itself.
  assert.ok(ctx.lines.some((l) => l.includes("'--device', 'cpu'")));
});

test('progress moves while TotalSegmentator predicts inside Slicer', async (t) => {
  const s = await setup(
    t,
    { FAKE_TOTALSEG_PREDICT_SECONDS: '3' },
    { quality: 'fast', progressTickMs: 100, progressIntervalMs: 50 },
  );
  await s.engine.run(s.input, s.ctx);
  const events = readPredictionEvents(s.events);
  const start = events.find((e) => e.event === 'predict-start')!.time;
  const end = events.find((e) => e.event === 'predict-end')!.time;
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
  );
});

for (const [api, quality, expected] of [
  ['fast', 'normal', 'normal'],
  ['fast', 'fast', 'fast'],
  ['fast+fastest', 'fastest', 'faster'],
  ['quality', 'fastest', 'faster'],
] as const) {
  test(`Slicer engine drives the ${api} process() signature for quality ${quality}`, async (t) => {
    const s = await setup(t, { FAKE_SLICER_TS_API: api }, { quality, device: 'gpu' });
    const result = await s.engine.run(s.input, s.ctx);
    assert.equal(result.segments.length, 3);
    const call = s.readCalls().find((c) => c.call === 'TotalSegmentatorLogic.process');
    assert.equal(call?.quality, expected);
    assert.equal(call?.cpu, false);
  });
}

test("every run calls the extension's setupPythonRequirements(), which applies its version pin", async (t) => {
  const s = await setup(t, {});
  await s.engine.run(s.input, s.ctx);
  assert.deepEqual(
    s.readCalls().filter((c) => c.call === 'TotalSegmentatorLogic.setupPythonRequirements'),
    [{ call: 'TotalSegmentatorLogic.setupPythonRequirements', upgrade: false }],
    'called although every package is present',
  );
  assert.ok(!s.readCalls().some((c) => String(c.call).startsWith('util.pip')), 'nothing to install');

  const older = 'https://github.com/wasserth/TotalSegmentator/archive/0123456789abcdef0123456789abcdef01234567.zip';
  const updated = await setup(t, { FAKE_SLICER_TS_INSTALLED_URL: older });
  await updated.engine.run(updated.input, updated.ctx);
  assert.ok(
    updated.ctx.lines.some((l) =>
      l.includes(
        `[dialog answered yes] This module requires TotalSegmentator Python package update. (Currently installed: ${older}`,
      ),
    ),
  );
  assert.deepEqual(
    updated
      .readCalls()
      .filter((c) => String(c.call).startsWith('util.pip'))
      .map((c) => [c.call, c.requirements]),
    [
      ['util.pip_uninstall', 'TotalSegmentator'],
      [
        'util.pip_install',
        'https://github.com/wasserth/TotalSegmentator/archive/98d57a19400703dd87fa07483d15b8e85b4cf4ed.zip --upgrade --no-deps',
      ],
    ],
  );
});

test('first run installs PyTorch and nnU-Net without hanging on the confirmation dialog', async (t) => {
  const s = await setup(t, { FAKE_SLICER_PYTHON_PACKAGES: 'installable' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.equal(result.segments.length, 3);
  assert.ok(s.readCalls().some((c) => c.call === 'PyTorchUtilsLogic.installTorch'));
  assert.ok(
    s.ctx.lines.some((l) =>
      l.includes(
        '[dialog answered yes] This module requires installation of additional Python packages. Installation needs network connection and may take several minutes. Click OK to proceed. (Python packages that will be installed: PyTorch, nnunetv2)',
      ),
    ),
  );
  assert.ok(s.ctx.progressCalls.some(([, st]) => st.startsWith("Installing TotalSegmentator's Python packages")));
});

test('a failed requirement install names the packages and the fix', async (t) => {
  const s = await setup(t, { FAKE_SLICER_PYTHON_PACKAGES: 'broken' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /Python packages missing in Slicer \(torch, nnunetv2, totalsegmentator\) and installing them failed: CalledProcessError: Command '\['PythonSlicer', '-m', 'pip', 'install', 'torch>=2\.1\.2'\]' returned non-zero exit status 1/,
  );
  assert.match(err.message, /Fix: Install the 'PyTorch' and 'NNUNet' extensions/);
});

for (const [missing, message] of [
  [
    'SlicerOpenAnatomy',
    /missing a requirement \(exit code 3\): 3D Slicer extension SlicerOpenAnatomy is not installed.*Fix: .*Extensions Manager, install 'SlicerOpenAnatomy'/,
  ],
  [
    'PyTorch',
    /missing a requirement \(exit code 3\): TotalSegmentator's Python packages and installing them failed: InstallError: This module requires PyTorch extension\. Install it from the Extensions Manager\./,
  ],
] as const) {
  test(`a missing ${missing} extension is a permanent error that says how to install it`, async (t) => {
    const all = ['TotalSegmentator', 'SlicerOpenAnatomy', 'PyTorch', 'NNUNet'];
    const s = await setup(t, { FAKE_SLICER_EXTENSIONS: all.filter((e) => e !== missing).join(',') });
    const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.equal((err as { retryable?: boolean }).retryable, false);
    assert.match(err.message, message);
  });
}

test("a task that needs a licence fails at once with TotalSegmentator's own words", async (t) => {
  const s = await setup(t, {}, { task: 'tissue_types' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /^3D Slicer could not take the job \(exit code 4\): TotalSegmentator refused the job \(exit code 1\): In contrast to the other tasks this task is not openly available\. It requires a license\./,
  );
});

test('options TotalSegmentator or the extension reject fail at once; a crash while predicting may be retried', async (t) => {
  const fast = await setup(t, {}, { task: 'cerebral_bleed', quality: 'fast' });
  const err = await fast.engine.run(fast.input, fast.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /TotalSegmentator refused the job \(exit code 1\): task cerebral_bleed does not work with option --fast$/,
  );

  const subset = await setup(t, {}, { subset: ['liver', 'no_such_class'] });
  const err2 = await subset.engine.run(subset.input, subset.ctx).catch((e: unknown) => e);
  assert.ok(err2 instanceof Error);
  assert.equal((err2 as { retryable?: boolean }).retryable, false);
  assert.match(
    err2.message,
    /the TotalSegmentator extension refused the job: 'no_such_class' is not a valid TotalSegmentator label terminology\./,
  );

  const oom = await setup(t, { FAKE_TOTALSEG_FAIL: 'cuda-oom' });
  const err3 = await oom.engine.run(oom.input, oom.ctx).catch((e: unknown) => e);
  assert.ok(err3 instanceof Error);
  assert.notEqual((err3 as { retryable?: boolean }).retryable, false, 'a processing failure may be retried');
  assert.match(
    err3.message,
    /3D Slicer segmentation failed \(exit code 1\): RuntimeError: TotalSegmentator failed with exit code 1: RuntimeError: CUDA out of memory/,
  );
  const manifest = JSON.parse(readFileSync(join(oom.work, 'slicer-output', 'manifest.json'), 'utf8')) as {
    status: string;
    exitCode: number;
  };
  assert.equal(manifest.status, 'failed');
  assert.equal(manifest.exitCode, 1);
  assert.equal(pidAlive(oom.slicerPid()), false);
});

test('Slicer engine: failed OpenAnatomy export still gives the label map, mesher makes the glTF', async (t) => {
  const s = await setup(t, { FAKE_SLICER_FAIL: 'export' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.equal(result.gltfPath, undefined);
  assert.equal(result.segments.length, 3);
  assert.ok(s.ctx.lines.some((l) => /warning: glTF export failed: RuntimeError: vtkGLTFExporter failed/.test(l)));
});

test('Slicer engine: a wrong Slicer path is a clear permanent error', async (t) => {
  const s = await setup(t, {}, { slicerPath: '/nonexistent/Slicer-5.6.2-linux-amd64/Slicer' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(err.message, /could not start 3D Slicer .*not found.*Set SLICER_PATH/);
});

for (const how of ['timeout', 'cancel'] as const) {
  test(
    `Slicer engine: ${how} of a hung TotalSegmentator ends Slicer and it within seconds with a clear reason`,
    { skip: !posix && 'POSIX process groups' },
    async (t) => {
      const s = await setup(t, { FAKE_TOTALSEG_HANG: '1' }, { timeoutSeconds: how === 'timeout' ? 5 : 600 });
      const started = Date.now();
      const run = s.engine.run(s.input, s.ctx);
      if (how === 'cancel') {
        await waitUntil(() => s.ctx.lines.some((l) => l.includes('Predicting part 1 of 5')), 15_000);
        s.ctx.abort(new Error('cancelled by user'));
      }
      const err = await run.catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.ok(Date.now() - started < 20_000);
      if (how === 'timeout') {
        assert.match(err.message, /3D Slicer did not finish within 5 s \(SLICER_TIMEOUT_SECONDS\) and was stopped/);
        assert.equal((err as { retryable?: boolean }).retryable, false);
      } else {
        assert.ok(err instanceof ProgramError);
        assert.equal(err.reason, 'cancelled');
      }
      const pids = [s.slicerPid(), Number(readFileSync(s.tsPidFile, 'utf8'))];
      assert.ok(
        await waitUntil(() => pids.every((p) => !pidAlive(p) && !processGroupAlive(p)), 3000),
        'neither Slicer nor TotalSegmentator survives',
      );
    },
  );
}

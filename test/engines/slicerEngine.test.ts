import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgramError, processGroupAlive } from '../../server/engines/runProgram.ts';
import { createSlicerEngine, type SlicerEngineOptions } from '../../server/engines/slicer/slicerEngine.ts';
import { FAKE_SLICER, makeContext, pidAlive, tempDir, waitUntil, writeSyntheticCase } from './engineHarness.ts';

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
  const env = {
    ...process.env,
    DISPLAY: ':99',
    FAKE_SLICER_SEGMENTATION: c.segPath,
    FAKE_SLICER_CALLS: calls,
    FAKE_SLICER_PIDFILE: pidFile,
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
  return { c, engine, ctx, input, readCalls, slicerPid, work };
}

test('Slicer engine (quality API): label map, Slicer names and colours, OpenAnatomy glTF, versions, progress', async (t) => {
  const s = await setup(t, { FAKE_SLICER_TS_API: 'quality' }, { quality: 'fast', device: 'cpu' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.deepEqual(result.labelMap.dims, [20, 16, 10]);
  assert.deepEqual(
    result.segments.map((x) => [x.label, x.name, x.totalSegmentatorId]),
    [
      [1, 'right kidney', 2],
      [2, 'liver', 5],
      [3, 'aorta', 52],
    ],
  );
  // Labels were renumbered 1..n by Slicer's export; voxels must follow their segment.
  for (let i = 0; i < s.c.labelMap.data.length; i++) {
    const expected = { 0: 0, 2: 1, 5: 2, 52: 3 }[s.c.labelMap.data[i] as 0 | 2 | 5 | 52];
    if (result.labelMap.data[i] !== expected) assert.fail(`voxel ${i}: ${result.labelMap.data[i]} != ${expected}`);
  }
  assert.ok(result.gltfPath && existsSync(result.gltfPath));
  const gltf = JSON.parse(readFileSync(result.gltfPath, 'utf8')) as { nodes: Array<{ name: string }> };
  assert.equal(gltf.nodes.at(-1)?.name, 'case_1_Models');
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
  assert.ok(s.ctx.lines.some((l) => l.includes('[TotalSegmentator] Predicting part 1 of 1')));
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

test('Slicer engine: failed OpenAnatomy export still gives the label map, mesher makes the glTF', async (t) => {
  const s = await setup(t, { FAKE_SLICER_FAIL: 'export' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.equal(result.gltfPath, undefined);
  assert.equal(result.segments.length, 3);
  assert.ok(s.ctx.lines.some((l) => /warning: glTF export failed: RuntimeError: vtkGLTFExporter failed/.test(l)));
});

test('Slicer engine: exception inside process() fails with the reason, exit code, and no process left', async (t) => {
  const s = await setup(t, { FAKE_SLICER_FAIL: 'process' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.match(
    err.message,
    /3D Slicer segmentation failed \(exit code 1\): CalledProcessError: .*returned non-zero exit status 1/,
  );
  assert.notEqual((err as { retryable?: boolean }).retryable, false, 'a processing failure may be retried');
  const manifest = JSON.parse(readFileSync(join(s.work, 'slicer-output', 'manifest.json'), 'utf8')) as {
    status: string;
    exitCode: number;
  };
  assert.equal(manifest.status, 'failed');
  assert.equal(manifest.exitCode, 1);
  assert.ok(s.ctx.lines.some((l) => l.includes('CUDA out of memory')));
  assert.equal(pidAlive(s.slicerPid()), false);
});

test('Slicer engine: missing extension is a permanent error that says how to install it', async (t) => {
  const s = await setup(t, { FAKE_SLICER_EXTENSIONS: 'TotalSegmentator,PyTorch,NNUNet' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /missing a requirement \(exit code 3\): 3D Slicer extension SlicerOpenAnatomy is not installed.*Fix: .*Extensions Manager, install 'SlicerOpenAnatomy'/,
  );
});

test('Slicer engine: first run installs PyTorch/TotalSegmentator without hanging on the confirmation dialog', async (t) => {
  const s = await setup(t, { FAKE_SLICER_PYTHON_PACKAGES: 'installable' });
  const result = await s.engine.run(s.input, s.ctx);
  assert.equal(result.segments.length, 3);
  assert.ok(s.readCalls().some((c) => c.call === 'TotalSegmentatorLogic.setupPythonRequirements'));
  assert.ok(s.ctx.lines.some((l) => l.includes('[dialog answered yes] This module requires PyTorch')));
  assert.ok(s.ctx.progressCalls.some(([, st]) => st.startsWith('Installing TotalSegmentator requirements')));
});

test('Slicer engine: failed requirement install names the packages and the fix', async (t) => {
  const s = await setup(t, { FAKE_SLICER_PYTHON_PACKAGES: 'broken' });
  const err = await s.engine.run(s.input, s.ctx).catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.equal((err as { retryable?: boolean }).retryable, false);
  assert.match(
    err.message,
    /Python packages missing in Slicer \(torch, nnunetv2, totalsegmentator\) and installing them failed: InstallError: Failed to install PyTorch/,
  );
  assert.match(err.message, /Fix: Install the 'PyTorch' and 'NNUNet' extensions/);
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
    `Slicer engine: ${how} of a hung Slicer ends it within seconds with a clear reason`,
    { skip: !posix && 'POSIX process groups' },
    async (t) => {
      const s = await setup(t, { FAKE_SLICER_HANG: 'process' }, { timeoutSeconds: how === 'timeout' ? 2 : 600 });
      const started = Date.now();
      const run = s.engine.run(s.input, s.ctx);
      if (how === 'cancel') {
        await waitUntil(() => s.ctx.progressCalls.some(([, st]) => st.startsWith('Segmenting')), 10_000);
        s.ctx.abort(new Error('cancelled by user'));
      }
      const err = await run.catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.ok(Date.now() - started < 15_000);
      if (how === 'timeout') {
        assert.match(err.message, /3D Slicer did not finish within 2 s \(SLICER_TIMEOUT_SECONDS\) and was stopped/);
        assert.equal((err as { retryable?: boolean }).retryable, false);
      } else {
        assert.ok(err instanceof ProgramError);
        assert.equal(err.reason, 'cancelled');
      }
      const pid = s.slicerPid();
      assert.ok(await waitUntil(() => !pidAlive(pid) && !processGroupAlive(pid), 3000), 'no Slicer process survives');
    },
  );
}

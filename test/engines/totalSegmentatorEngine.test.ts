import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgramError, processGroupAlive } from '../../server/engines/runProgram.ts';
import {
  createTotalSegmentatorEngine,
  totalSegmentatorArguments,
} from '../../server/engines/totalsegmentator/totalSegmentatorEngine.ts';
import { exportModels } from '../../server/mesh/exportModels.ts';
import { validateGltf, errorLines } from '../../server/mesh/gltfValidation.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import {
  FAKE_TOTALSEGMENTATOR,
  makeContext,
  pidAlive,
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
      { executable: 'x', timeoutSeconds: 1, quality: 'fastest', task: 'total_mr' },
      'a',
      'b',
    ).slice(5),
    ['--fastest', '--task', 'total_mr', '--device', 'gpu'],
  );
});

test('TotalSegmentator engine on the reference CT: TotalSegmentator names, valid glTF from our mesher', async (t) => {
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
  });
  const ctx = makeContext(dir);
  const result = await engine.run({ volume, niftiPath: ctPath, name: 'example_ct_sm' }, ctx);
  const reference = await readNifti(testDataPath('nifti/totalsegmentator/example_seg_fast.nii.gz'));
  assert.deepEqual(Array.from(result.labelMap.data.subarray(0, 5000)), Array.from(reference.data.subarray(0, 5000)));
  const names = new Map(result.segments.map((s) => [s.label, s.name]));
  assert.equal(names.get(5), 'liver');
  assert.equal(names.get(52), 'aorta');
  assert.equal(result.gltfPath, undefined, 'the mesher makes the glTF');
  assert.equal(result.versions?.totalsegmentator, '2.13.0');
  assert.ok(ctx.lines.some((l) => l.includes('Predicting part 1 of 1')));
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
  assert.ok(meshNames.includes('liver') && meshNames.includes('aorta'), meshNames.join(','));
});

test('TotalSegmentator engine with generated fixtures: label map checked against the input grid', async (t) => {
  const dir = tempDir(t, 'totalseg-synth-');
  const c = await writeSyntheticCase(dir);
  const engine = createTotalSegmentatorEngine({
    executable: FAKE_TOTALSEGMENTATOR,
    timeoutSeconds: 60,
    env: { ...process.env, FAKE_TOTALSEG_OUTPUT: c.segPath },
  });
  const result = await engine.run({ volume: c.volume, niftiPath: c.ctPath, name: 'case' }, makeContext(dir));
  assert.deepEqual(
    result.segments.map((s) => [s.label, s.name, s.totalSegmentatorId]),
    [
      [2, 'right kidney', 2],
      [5, 'liver', 5],
      [52, 'aorta', 52],
    ],
  );
  assert.deepEqual(Array.from(result.labelMap.data), Array.from(c.labelMap.data));

  const shifted = { ...c.volume, origin: [0, 0, 0] as [number, number, number] };
  const err = await engine
    .run({ volume: shifted, niftiPath: c.ctPath, name: 'case2' }, makeContext(dir))
    .catch((e: unknown) => e);
  assert.ok(err instanceof Error);
  assert.match(
    err.message,
    /TotalSegmentator returned a label map whose position or orientation differs from the input volume/,
  );
});

test('TotalSegmentator engine: failure carries the exit code and stderr', async (t) => {
  const dir = tempDir(t, 'totalseg-fail-');
  const c = await writeSyntheticCase(dir);
  const engine = createTotalSegmentatorEngine({ executable: FAKE_TOTALSEGMENTATOR, timeoutSeconds: 60 });
  const err = await engine
    .run({ volume: c.volume, niftiPath: join(dir, 'missing.nii.gz'), name: 'x' }, makeContext(dir))
    .catch((e: unknown) => e);
  assert.ok(err instanceof ProgramError);
  assert.equal(err.exitCode, 1);
  assert.match(
    err.message,
    /TotalSegmentator failed with exit code 1\nERROR: The input file or directory does not exist\./,
  );

  const missing = createTotalSegmentatorEngine({ executable: join(dir, 'TotalSegmentator'), timeoutSeconds: 60 });
  const err2 = await missing
    .run({ volume: c.volume, niftiPath: c.ctPath, name: 'x' }, makeContext(dir))
    .catch((e: unknown) => e);
  assert.ok(err2 instanceof Error);
  assert.match(err2.message, /could not start TotalSegmentator.*pip install TotalSegmentator.*TOTALSEGMENTATOR_PATH/);
});

for (const how of ['timeout', 'cancel'] as const) {
  test(
    `TotalSegmentator engine: ${how} of a hung run ends its process group`,
    { skip: process.platform === 'win32' && 'POSIX process groups' },
    async (t) => {
      const dir = tempDir(t, 'totalseg-hang-');
      const c = await writeSyntheticCase(dir);
      const pidFile = join(dir, 'pid');
      const engine = createTotalSegmentatorEngine({
        executable: FAKE_TOTALSEGMENTATOR,
        timeoutSeconds: how === 'timeout' ? 2 : 600,
        killGraceSeconds: 1,
        env: { ...process.env, FAKE_TOTALSEG_HANG: '1', FAKE_TOTALSEG_PIDFILE: pidFile },
      });
      const ctx = makeContext(dir);
      const started = Date.now();
      const run = engine.run({ volume: c.volume, niftiPath: c.ctPath, name: 'x' }, ctx);
      if (how === 'cancel') {
        await waitUntil(() => ctx.lines.some((l) => l.includes('No GPU detected')), 10_000);
        ctx.abort(new Error('cancelled'));
      }
      const err = await run.catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.ok(Date.now() - started < 15_000);
      assert.match(
        err.message,
        how === 'timeout'
          ? /TotalSegmentator did not finish within 2 s/
          : /TotalSegmentator was stopped: the job was cancelled/,
      );
      const pid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(await waitUntil(() => !pidAlive(pid) && !processGroupAlive(pid), 3000));
    },
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../server/config/config.ts';
import { runDoctor, type DoctorDeps } from '../../server/engines/doctor.ts';
import type { Engine } from '../../server/engines/engine.ts';
import { probeSlicer, slicerVersion, totalSegmentatorVersion } from '../../server/engines/probes.ts';
import { EngineUnavailableError, resolveEngine } from '../../server/engines/registry.ts';
import { silentLogger } from '../../server/log.ts';
import { FAKE_SLICER, FAKE_TOTALSEGMENTATOR } from './engineHarness.ts';

const builtin: Engine = { name: 'builtin', run: () => Promise.reject(new Error('not used')) };
const env = { ...process.env, DISPLAY: ':99' };

function deps(over: Partial<DoctorDeps> = {}): DoctorDeps {
  return {
    env: { PATH: '/nonexistent' },
    discoverSlicer: () => undefined,
    slicerVersion: (p) => slicerVersion(p, env),
    totalSegmentatorVersion: (p) => totalSegmentatorVersion(p, env),
    loadBuiltin: () => Promise.resolve(builtin),
    settings: { quality: 'fast', device: 'cpu' },
    probeSlicer: (p) => probeSlicer(p, env),
    ...over,
  };
}

test('ENGINE=auto prefers a working Slicer, then TotalSegmentator, then built-in, and says why', async () => {
  const withSlicer = await resolveEngine(
    loadConfig({ SLICER_PATH: FAKE_SLICER, TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }),
    silentLogger(),
    deps(),
  );
  assert.equal(withSlicer.engine.name, 'slicer');
  assert.match(withSlicer.reason, /ENGINE=auto chose 3D Slicer 5\.6\.2 at .*fake-slicer\/Slicer \(SLICER_PATH\)/);

  const discovered = await resolveEngine(loadConfig({}), silentLogger(), deps({ discoverSlicer: () => FAKE_SLICER }));
  assert.match(discovered.reason, /found in a standard install place/);

  const ts = await resolveEngine(loadConfig({ TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }), silentLogger(), deps());
  assert.equal(ts.engine.name, 'totalsegmentator');
  assert.match(ts.reason, /TotalSegmentator 2\.13\.0 at .* \(TOTALSEGMENTATOR_PATH\) \(no 3D Slicer found/);

  const none = await resolveEngine(loadConfig({}), silentLogger(), deps());
  assert.equal(none.engine, builtin);
  assert.match(
    none.reason,
    /built-in engine: no 3D Slicer found.*TotalSegmentator is not on PATH; install it with "pip install TotalSegmentator"/,
  );

  const oldSlicer = await resolveEngine(
    loadConfig({ SLICER_PATH: FAKE_SLICER }),
    silentLogger(),
    deps({ slicerVersion: () => Promise.resolve('5.2.2') }),
  );
  assert.equal(oldSlicer.engine, builtin);
  assert.match(oldSlicer.reason, /3D Slicer 5\.2\.2 .* is too old/);
});

test('an explicit ENGINE that cannot run is an error naming the fix', async () => {
  await assert.rejects(
    resolveEngine(loadConfig({ ENGINE: 'slicer', SLICER_PATH: '/nowhere/Slicer' }), silentLogger(), deps()),
    (e: unknown) => {
      assert.ok(e instanceof EngineUnavailableError);
      assert.match(
        e.message,
        /ENGINE=slicer but SLICER_PATH=\/nowhere\/Slicer is not an executable file; point it at Slicer\.exe/,
      );
      return true;
    },
  );
  await assert.rejects(
    resolveEngine(loadConfig({ ENGINE: 'totalsegmentator' }), silentLogger(), deps()),
    /ENGINE=totalsegmentator but TotalSegmentator is not on PATH/,
  );
  const b = await resolveEngine(loadConfig({ ENGINE: 'builtin', SLICER_PATH: FAKE_SLICER }), silentLogger(), deps());
  assert.equal(b.engine, builtin);
});

test('doctor probes Slicer for real and names missing extensions with the fix', async () => {
  const lines: string[] = [];
  const probeEnv = {
    ...env,
    FAKE_SLICER_EXTENSIONS: 'TotalSegmentator,PyTorch,NNUNet',
    FAKE_SLICER_PYTHON_PACKAGES: 'installable',
  };
  const code = await runDoctor(
    loadConfig({ ENGINE: 'slicer', SLICER_PATH: FAKE_SLICER }),
    (l) => lines.push(l),
    deps({ probeSlicer: (p) => probeSlicer(p, probeEnv) }),
  );
  const text = lines.join('\n');
  assert.equal(code, 1);
  assert.match(text, /ok {3}Slicer 5\.6\.2/);
  assert.match(
    text,
    /FAIL extension SlicerOpenAnatomy is not installed\n {7}fix: in Slicer: View > Extensions Manager > install 'SlicerOpenAnatomy'/,
  );
  assert.match(text, /WARN python packages missing or broken in Slicer: torch, nnunetv2, totalsegmentator/);
  assert.match(text, /TotalSegmentator is not on PATH/);

  const good: string[] = [];
  const ok = await runDoctor(
    loadConfig({ SLICER_PATH: FAKE_SLICER, TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }),
    (l) => good.push(l),
    deps(),
  );
  assert.equal(ok, 0, good.join('\n'));
  assert.match(
    good.join('\n'),
    /ok {3}extension SlicerOpenAnatomy[\s\S]*ok {3}python package torch 2\.3\.1\+cpu[\s\S]*no CUDA GPU[\s\S]*ok {3}TotalSegmentator 2\.13\.0[\s\S]*selected: slicer/,
  );
});

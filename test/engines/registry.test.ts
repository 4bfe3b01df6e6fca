import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../server/config/config.ts';
import { runDoctor, type DoctorDeps } from '../../server/engines/doctor.ts';
import type { Engine } from '../../server/engines/engine.ts';
import { probeSlicer, slicerVersion, totalSegmentatorVersion } from '../../server/engines/probes.ts';
import { EngineUnavailableError, resolveEngine } from '../../server/engines/registry.ts';
import { createLogger, silentLogger } from '../../server/log.ts';
import { Writable } from 'node:stream';
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

/** A logger whose warnings the test can read. */
function warningLogger(): { logger: ReturnType<typeof createLogger>; warnings: string[] } {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const entry = JSON.parse(chunk.toString('utf8')) as { level: number; msg: string };
      if (entry.level === 40) warnings.push(entry.msg);
      done();
    },
  });
  return { logger: createLogger('info', sink), warnings };
}

test('a TotalSegmentator older than 2.2.0 is passed over by ENGINE=auto with a warning, refused when chosen, named by doctor', async () => {
  const oldEnv = { ...env, FAKE_TOTALSEG_VERSION: '2.0.1' };
  const d = deps({ totalSegmentatorVersion: (p) => totalSegmentatorVersion(p, oldEnv) });
  const sentence =
    'TotalSegmentator 2.0.1 is too old: 2.2.0 or later needed; upgrade with "pip install --upgrade TotalSegmentator"';

  const { logger, warnings } = warningLogger();
  const auto = await resolveEngine(loadConfig({ TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }), logger, d);
  assert.equal(auto.engine, builtin);
  assert.ok(auto.reason.includes(sentence), auto.reason);
  await new Promise((r) => setImmediate(r));
  assert.ok(
    warnings.some((w) => w.startsWith(`TotalSegmentator engine not used: ${sentence}`)),
    warnings.join('\n'),
  );

  await assert.rejects(
    resolveEngine(
      loadConfig({ ENGINE: 'totalsegmentator', TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }),
      silentLogger(),
      d,
    ),
    (e: unknown) => e instanceof EngineUnavailableError && e.message.includes(sentence),
  );

  const lines: string[] = [];
  const code = await runDoctor(
    loadConfig({ ENGINE: 'totalsegmentator', TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }),
    (l) => lines.push(l),
    d,
  );
  assert.equal(code, 1);
  assert.ok(lines.includes(`  FAIL ${sentence}`), lines.join('\n'));

  // 2.2.0 itself is new enough.
  const current = deps({
    totalSegmentatorVersion: (p) => totalSegmentatorVersion(p, { ...env, FAKE_TOTALSEG_VERSION: '2.2.0' }),
  });
  const ok = await resolveEngine(loadConfig({ TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR }), silentLogger(), current);
  assert.equal(ok.engine.name, 'totalsegmentator');
});

test('SEGMENTATION_DEVICE=mps runs TotalSegmentator on a Mac and is refused elsewhere', async () => {
  const config = loadConfig({
    ENGINE: 'totalsegmentator',
    TOTALSEGMENTATOR_PATH: FAKE_TOTALSEGMENTATOR,
    SEGMENTATION_DEVICE: 'mps',
  });
  assert.equal(config.segmentationDevice, 'mps');
  const mac = await resolveEngine(config, silentLogger(), deps({ settings: undefined, platform: 'darwin' }));
  assert.equal(mac.engine.name, 'totalsegmentator');
  await assert.rejects(
    resolveEngine(config, silentLogger(), deps({ settings: undefined, platform: 'linux' })),
    /SEGMENTATION_DEVICE=mps is the GPU of Apple silicon Macs and this is linux/,
  );
});

test('doctor warns of a TotalSegmentator older than 2.2.0 inside Slicer', async () => {
  const lines: string[] = [];
  await runDoctor(
    loadConfig({ ENGINE: 'slicer', SLICER_PATH: FAKE_SLICER }),
    (l) => lines.push(l),
    deps({
      probeSlicer: async () => ({
        ok: true,
        slicer: '5.6.2',
        extensions: { TotalSegmentator: true, SlicerOpenAnatomy: true },
        modules: {},
        packages: { torch: '2.3.1', nnunetv2: '2.5.1', totalsegmentator: '2.0.1' },
        cuda: false,
      }),
    }),
  );
  assert.ok(
    lines.includes(
      '  WARN TotalSegmentator 2.0.1 in Slicer is older than 2.2.0: update the TotalSegmentator extension (View > Extensions Manager)',
    ),
    lines.join('\n'),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeSyntheticCt, writeSyntheticDicomSeries } from '../support/syntheticCt.ts';
import { testAppDeps, testDatabases, withTestDatabase } from '../support/db.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import { errorLines, validateGltf } from '../../server/mesh/gltfValidation.ts';
import { listResults } from '../../server/results/readResults.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { writeNifti } from '../../server/volume/niftiWrite.ts';
import type { GatewayEvent } from '../../server/events.ts';
import type { Database } from '../../server/db/database.ts';
import { silentLogger } from '../../server/log.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { safeFileName } from '../../server/results/names.ts';
import { parseProcessPayload } from '../../server/processing/processPayload.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import type { TaskHelpers } from '../../server/jobs/task.ts';
import { PermanentError } from '../../server/errors.ts';

function helpersFor(
  db: Database,
  progress: Array<[number, string]> = [],
  log: string[] = [],
  jobId?: string,
): TaskHelpers {
  return {
    setEngine: async (name) => {
      if (jobId) await db.query('UPDATE jobs SET engine = $2 WHERE id = $1', [jobId, name]);
    },
    db,
    signal: new AbortController().signal,
    progress: async (p, s) => void progress.push([p, s]),
    log: (l) => void log.push(l),
    logger: silentLogger(),
  };
}

for (const driver of testDatabases()) {
  test(`process task turns a NIfTI into a recorded result with glTF, GLB, label map and stats (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t, { MESH_REDUCTION: '0.8', RESULT_RETENTION_DAYS: '7', KEEP_INPUTS: 'true' });
      const events: GatewayEvent[] = [];
      deps.events.subscribe((e) => void events.push(e));
      const ct = makeSyntheticCt({ dims: [80, 80, 48], spacing: [4.5, 4.5, 6], seed: 2 });
      await mkdir(join(deps.dataDir, 'uploads'), { recursive: true });
      await writeNifti(join(deps.dataDir, 'uploads', 'scan.nii.gz'), ct);

      const payload: ProcessPayload = {
        name: 'Chest CT / phase 2',
        input: { kind: 'volume-file', file: 'uploads/scan.nii.gz', originalName: 'scan.nii.gz' },
      };
      const job = await deps.queue.add('process', payload);
      const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
      const progress: Array<[number, string]> = [];
      const log: string[] = [];
      await task(
        { id: job.id, kind: 'process', payload, attempt: 1, maxAttempts: 3 },
        helpersFor(db, progress, log, job.id),
      );

      const results = await listResults(db);
      assert.equal(results.length, 1);
      const r = results[0];
      assert.equal(r.jobId, job.id);
      assert.equal(r.engine, 'builtin');
      assert.equal(r.name, 'Chest_CT_phase_2');
      assert.deepEqual(r.source, { kind: 'volume-file', file: 'uploads/scan.nii.gz', originalName: 'scan.nii.gz' });
      assert.ok(r.expiresAt && Math.abs(Date.parse(r.expiresAt) - Date.parse(r.createdAt) - 7 * 86400_000) < 5000);
      assert.deepEqual(
        r.segments.map((s) => s.name),
        ['body', 'lungs', 'bone'],
      );
      const dir = join(deps.dataDir, 'results', r.id);
      const names = [
        'Chest_CT_phase_2.3mf',
        'Chest_CT_phase_2.glb',
        'Chest_CT_phase_2.gltf',
        'Chest_CT_phase_2.nii.gz',
        'Chest_CT_phase_2_seg.nii.gz',
        'Chest_CT_phase_2_segments.json',
        'Chest_CT_phase_2_stl.zip',
      ];
      assert.deepEqual((await readdir(dir)).sort(), names);
      for (const f of r.files) assert.equal(f.size, (await stat(join(dir, f.name))).size, f.name);
      assert.deepEqual(
        r.files.map((f) => f.name),
        names,
      );
      assert.deepEqual(
        (await readdir(join(deps.dataDir, 'results'))).filter((n) => n.startsWith('.')),
        [],
        'no temp folders left',
      );

      const report = await validateGltf(new Uint8Array(await readFile(join(dir, 'Chest_CT_phase_2.gltf'))), 'gltf');
      assert.equal(report.issues.numErrors, 0, errorLines(report));
      const seg = await readNifti(join(dir, 'Chest_CT_phase_2_seg.nii.gz'));
      assert.deepEqual(seg.dims, ct.dims);
      const input = await readNifti(join(dir, 'Chest_CT_phase_2.nii.gz'));
      assert.deepEqual([...input.data.subarray(0, 1000)], [...ct.data.subarray(0, 1000)]);

      assert.equal(progress.at(-1)?.[0], 100);
      assert.ok(
        progress.every(([p], i) => i === 0 || p >= progress[i - 1][0]),
        'progress never goes back',
      );
      assert.ok(log.some((l) => l.startsWith('engine: builtin')));
      assert.deepEqual(events, [{ type: 'result', resultId: r.id, jobId: job.id }]);
      assert.equal((await deps.queue.get(job.id))?.engine, 'builtin');

      // The same job again (a retry after a crash) replaces its result instead of adding one.
      await writeFile(join(dir, 'stale-marker'), 'x');
      await task({ id: job.id, kind: 'process', payload, attempt: 2, maxAttempts: 3 }, helpersFor(db));
      const again = await listResults(db);
      assert.equal(again.length, 1);
      assert.equal(again[0].id, r.id);
      assert.deepEqual((await readdir(dir)).sort(), names, 'the old folder was replaced as a whole');
    });
  });

  test(`process task reads a DICOM series and fails bad inputs permanently with the reason (${driver})`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      const deps = await testAppDeps(db, t);
      const task = createProcessTask(deps, { engine: builtinEngine, reason: 'test' });
      const ct = makeSyntheticCt({ dims: [64, 64, 24], spacing: [5.6, 5.6, 8], seed: 4 });
      const seriesDir = join(deps.dataDir, 'instances', 'series1');
      const files = await writeSyntheticDicomSeries(seriesDir, ct);
      const rel = files.map((f) => f.slice(deps.dataDir.length + 1));
      const payload: ProcessPayload = {
        name: 'series',
        input: { kind: 'dicom-series', files: rel, studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4' },
      };
      const job = await deps.queue.add('process', payload);
      await task({ id: job.id, kind: 'process', payload, attempt: 1, maxAttempts: 3 }, helpersFor(db));
      const [r] = await listResults(db);
      assert.deepEqual(r.source, {
        kind: 'dicom-series',
        studyInstanceUid: '1.2.3',
        seriesInstanceUid: '1.2.3.4',
        instances: files.length,
      });
      assert.ok(r.segments.length >= 2);

      // A file that is not a volume: the reader's own message, and no retry.
      await writeFile(join(deps.dataDir, 'junk.nii.gz'), 'not a nifti at all');
      const bad: ProcessPayload = { name: 'junk', input: { kind: 'volume-file', file: 'junk.nii.gz' } };
      const badJob = await deps.queue.add('process', bad);
      await assert.rejects(
        task({ id: badJob.id, kind: 'process', payload: bad, attempt: 1, maxAttempts: 3 }, helpersFor(db)),
        (err: unknown) => {
          assert.ok(err instanceof PermanentError);
          assert.ok(err.message.length > 10);
          return true;
        },
      );
      const escape: ProcessPayload = { name: 'x', input: { kind: 'volume-file', file: '../../etc/passwd' } };
      await assert.rejects(
        task({ id: badJob.id, kind: 'process', payload: escape, attempt: 1, maxAttempts: 3 }, helpersFor(db)),
        /outside DATA_DIR/,
      );
      const gone: ProcessPayload = { name: 'x', input: { kind: 'volume-file', file: 'missing.nii.gz' } };
      await assert.rejects(
        task({ id: badJob.id, kind: 'process', payload: gone, attempt: 1, maxAttempts: 3 }, helpersFor(db)),
        PermanentError,
      );
      assert.equal((await listResults(db)).length, 1, 'failed jobs record nothing');
    });
  });
}

test('a CT big enough for the mesh threads has its body meshed while the lungs and bone are segmented', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { KEEP_INPUTS: 'true' });
    // 256^3 voxels: the smallest label map meshed in worker threads (meshPool.ts).
    const ct = makeSyntheticCt({ dims: [256, 256, 256], spacing: [1.4, 1.4, 1.2], seed: 5 });
    await mkdir(join(deps.dataDir, 'uploads'), { recursive: true });
    await writeNifti(join(deps.dataDir, 'uploads', 'big.nii.gz'), ct, { level: 1 });
    const payload: ProcessPayload = {
      name: 'big',
      input: { kind: 'volume-file', file: 'uploads/big.nii.gz', originalName: 'big.nii.gz' },
    };
    const job = await deps.queue.add('process', payload);
    const log: string[] = [];
    await createProcessTask(deps, { engine: builtinEngine, reason: 'test' })(
      { id: job.id, kind: 'process', payload, attempt: 1, maxAttempts: 3 },
      helpersFor(db, [], log, job.id),
    );
    assert.ok(log.includes('meshed while the engine was still segmenting: body'), log.join('\n'));
    assert.ok(!log.some((l) => l.startsWith('warning')), log.join('\n'));
    const [r] = await listResults(db);
    assert.deepEqual(
      r.segments.map((s) => s.name),
      ['body', 'lungs', 'bone'],
    );
    const dir = join(deps.dataDir, 'results', r.id);
    const json = JSON.parse(await readFile(join(dir, 'big_segments.json'), 'utf8')) as {
      segments: Array<{ name: string; voxels: number; volumeMl: number; meshVolumeMl: number }>;
    };
    const [body, ...inner] = json.segments;
    // The body's mesh wraps the lungs and bone: its voxels and enclosed volume are the three together.
    const innerVoxels = inner.reduce((sum, s) => sum + s.voxels, 0);
    assert.ok(innerVoxels > 0 && body.voxels > innerVoxels);
    assert.ok(Math.abs(body.meshVolumeMl / body.volumeMl - 1) < 0.02, `${body.meshVolumeMl} / ${body.volumeMl} mL`);
    const report = await validateGltf(new Uint8Array(await readFile(join(dir, 'big.gltf'))), 'gltf');
    assert.equal(report.issues.numErrors, 0, errorLines(report));
  });
});

test('process payloads are checked and names made safe for files', () => {
  assert.throws(() => parseProcessPayload({ name: 'x', input: { kind: 'dicom-series', files: [] } }), PermanentError);
  assert.throws(() => parseProcessPayload({ input: { kind: 'volume-file', file: 'a' } }), /name/);
  assert.throws(() => parseProcessPayload({ name: 'x', input: { kind: 'ftp' } }), /unknown input kind/);
  assert.deepEqual(parseProcessPayload({ name: 'x', input: { kind: 'volume-file', file: 'a.nii' } }), {
    name: 'x',
    input: { kind: 'volume-file', file: 'a.nii' },
  });
  assert.equal(safeFileName('../../etc/passwd'), 'etc_passwd');
  assert.equal(safeFileName('Thorax  1.0  B31f'), 'Thorax_1.0_B31f');
  assert.equal(safeFileName('...'), 'series');
});

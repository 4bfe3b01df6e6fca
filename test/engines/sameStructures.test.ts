import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from '../../server/engines/engine.ts';
import { createSlicerEngine } from '../../server/engines/slicer/slicerEngine.ts';
import { createTotalSegmentatorEngine } from '../../server/engines/totalsegmentator/totalSegmentatorEngine.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import type { TaskHelpers } from '../../server/jobs/task.ts';
import { silentLogger } from '../../server/log.ts';
import { listResults } from '../../server/results/readResults.ts';
import { readDataset, type NaturalDataset } from '../../server/seg/dcmjsData.ts';
import { readDicomSeries } from '../../server/volume/dicomSeries.ts';
import { writeNifti } from '../../server/volume/niftiWrite.ts';
import type { LabelMap } from '../../server/volume/volume.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { makeSyntheticCt, writeSyntheticDicomSeries } from '../support/syntheticCt.ts';
import { FAKE_SLICER, FAKE_TOTALSEGMENTATOR } from './engineHarness.ts';

type Item = NaturalDataset;
const seq = (ds: Item, key: string): Item[] => (ds[key] as Item[] | undefined) ?? [];
const MODIFIERS: Record<string, string> = {
  SegmentedPropertyTypeCodeSequence: 'SegmentedPropertyTypeModifierCodeSequence',
  AnatomicRegionSequence: 'AnatomicRegionModifierSequence',
};
const code = (ds: Item, key: string): string => {
  const c = seq(ds, key)[0];
  const modifier = c && MODIFIERS[key] ? seq(c, MODIFIERS[key])[0] : undefined;
  return c
    ? `${c.CodingSchemeDesignator}^${c.CodeValue}^${c.CodeMeaning}${modifier ? `/${modifier.CodeValue}` : ''}`
    : '';
};

/** What a result hands out about its structures: glTF node names, `_segments.json` and DICOM SEG codes. */
async function handedOut(dir: string, name: string) {
  const gltf = JSON.parse(await readFile(join(dir, `${name}.gltf`), 'utf8')) as {
    nodes: Array<{ name?: string; mesh?: number }>;
  };
  const segments = (
    JSON.parse(await readFile(join(dir, `${name}_segments.json`), 'utf8')) as {
      segments: Array<{ name: string; colorHex: string; totalSegmentatorId?: number }>;
    }
  ).segments;
  const seg = readDataset(await readFile(join(dir, `${name}_seg.dcm`)));
  return {
    nodes: gltf.nodes
      .filter((n) => n.mesh !== undefined)
      .map((n) => n.name)
      .sort(),
    segments: Object.fromEntries(segments.map((s) => [s.name, [s.colorHex, s.totalSegmentatorId]])),
    seg: Object.fromEntries(
      seq(seg, 'SegmentSequence').map((s) => [
        s.SegmentLabel as string,
        [
          code(s, 'SegmentedPropertyCategoryCodeSequence'),
          code(s, 'SegmentedPropertyTypeCodeSequence'),
          code(s, 'AnatomicRegionSequence'),
        ].join(' '),
      ]),
    ),
  };
}

test('one label map: the same glTF node names, segment names and colours and SEG codes through either engine', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, { KEEP_INPUTS: 'true', MESH_REDUCTION: '0.5' });
    const ct = makeSyntheticCt({ dims: [48, 40, 16], spacing: [6, 6, 8], seed: 5 });
    const files = await writeSyntheticDicomSeries(join(deps.dataDir, 'instances', 's1'), ct);
    // A TotalSegmentator label map on the grid the job reads from the series.
    const grid = (await readDicomSeries(files)).volume;
    const [nx, ny, nz] = grid.dims;
    const data = new Uint8Array(nx * ny * nz);
    const blocks: Array<[number, number, number, number]> = [
      [5, 4, 16, 4], // liver
      [2, 20, 28, 4], // right kidney
      [52, 32, 36, 4], // aorta
      [23, 38, 44, 4], // left kidney cyst: Slicer itself calls it "cyst"
      [31, 20, 28, 24], // L1 vertebra
    ];
    for (const [label, x0, x1, y0] of blocks)
      for (let k = 3; k < nz - 3; k++)
        for (let j = y0; j < y0 + 10; j++) for (let i = x0; i < x1; i++) data[i + nx * (j + ny * k)] = label;
    const segPath = join(deps.dataDir, 'reference_seg.nii.gz');
    const labelMap: LabelMap = {
      dims: grid.dims,
      spacing: grid.spacing,
      origin: grid.origin,
      direction: grid.direction,
      data,
    };
    await writeNifti(segPath, labelMap);

    const env = {
      ...process.env,
      DISPLAY: ':99',
      TMPDIR: deps.dataDir,
      TOTALSEG_HOME_DIR: join(deps.dataDir, 'totalseg-home'),
      FAKE_TOTALSEG_OUTPUT: segPath,
      FAKE_TOTALSEG_PREDICT_SECONDS: '0.05',
    };
    const engines: Engine[] = [
      createSlicerEngine({ slicerPath: FAKE_SLICER, timeoutSeconds: 120, reduction: 0.5, quality: 'fast', env }),
      createTotalSegmentatorEngine({ executable: FAKE_TOTALSEGMENTATOR, timeoutSeconds: 120, quality: 'fast', env }),
    ];
    const out: Array<Awaited<ReturnType<typeof handedOut>>> = [];
    for (const engine of engines) {
      const payload: ProcessPayload = {
        name: `case_${engine.name}`,
        input: {
          kind: 'dicom-series',
          files: files.map((f) => f.slice(deps.dataDir.length + 1)),
          studyInstanceUid: '1.2.3',
          seriesInstanceUid: '1.2.3.4',
        },
      };
      const job = await deps.queue.add('process', payload);
      const task = createProcessTask(deps, { engine, reason: 'test' });
      const helpers: TaskHelpers = {
        setEngine: async () => {},
        db,
        signal: new AbortController().signal,
        progress: async () => {},
        log: () => {},
        logger: silentLogger(),
      };
      await task({ id: job.id, kind: 'process', payload, attempt: 1, maxAttempts: 1 }, helpers);
      const result = (await listResults(db)).find((r) => r.jobId === job.id)!;
      assert.equal(result.engine, engine.name);
      out.push(await handedOut(join(deps.dataDir, 'results', result.id), `case_${engine.name}`));
    }
    const [slicer, totalsegmentator] = out;
    assert.deepEqual(slicer!.nodes, ['L1 vertebra', 'aorta', 'left kidney cyst', 'liver', 'right kidney']);
    assert.deepEqual(slicer!.nodes, totalsegmentator!.nodes, 'glTF node names');
    assert.deepEqual(slicer!.segments, totalsegmentator!.segments, '_segments.json names, colours and classes');
    assert.deepEqual(slicer!.segments['right kidney'], ['#b96653', 2]);
    assert.deepEqual(slicer!.seg, totalsegmentator!.seg, 'DICOM SEG labels and codes');
    assert.equal(slicer!.seg['right kidney'], 'SCT^123037004^Anatomical Structure SCT^64033007^Kidney/24028007 ');
    assert.equal(
      slicer!.seg['left kidney cyst'],
      'SCT^49755003^Morphologically Altered Structure SCT^367643001^Cyst SCT^64033007^Kidney/7771000',
    );
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTestData, testDataPath } from '../../test/support/requirements.ts';
import { readNifti } from '../volume/nifti.ts';
import type { LabelMap } from '../volume/volume.ts';
import { exportModels } from './exportModels.ts';
import { errorLines, validateGltf } from './gltfValidation.ts';
import { totalSegmentatorClass, totalSegmentatorSegments } from '../terminology/structures.ts';

for (const file of ['example_seg.nii.gz', 'example_seg_fast.nii.gz']) {
  test(`TotalSegmentator reference ${file} meshes into valid, named glTF with true volumes`, async (t) => {
    if (!requireTestData(t)) return;
    const volume = await readNifti(testDataPath('nifti/totalsegmentator', file));
    assert.ok(volume.data instanceof Uint8Array || volume.data instanceof Uint16Array, 'integer labels');
    const labelMap = volume as LabelMap;
    const present = new Set<number>();
    for (let i = 0; i < labelMap.data.length; i++) if (labelMap.data[i]) present.add(labelMap.data[i]);
    const dir = await mkdtemp(join(tmpdir(), 'ts-mesh-'));
    try {
      const { segments } = await exportModels({
        labelMap,
        segments: totalSegmentatorSegments([...present]),
        outDir: dir,
        name: 'ts',
        reduction: 0.9,
      });
      assert.equal(segments.length, present.size);
      for (const s of segments) assert.equal(s.name, totalSegmentatorClass(s.label)?.displayName, `label ${s.label}`);
      const big = segments.filter((s) => s.volumeMl > 5);
      assert.ok(big.length >= 5, 'several large structures');
      for (const s of big) {
        assert.ok(
          Math.abs(s.meshVolumeMl - s.volumeMl) / s.volumeMl < 0.1,
          `${s.name}: mesh ${s.meshVolumeMl} mL vs voxels ${s.volumeMl} mL`,
        );
      }
      for (const [f, format] of [
        ['ts.gltf', 'gltf'],
        ['ts.glb', 'glb'],
      ] as const) {
        const report = await validateGltf(new Uint8Array(await readFile(join(dir, f))), format);
        assert.equal(report.issues.numErrors, 0, errorLines(report));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

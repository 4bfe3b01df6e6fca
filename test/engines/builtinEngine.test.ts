import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireTestData, testDataPath } from '../support/requirements.ts';
import { readNifti } from '../../server/volume/nifti.ts';
import { BUILTIN_LABELS, segmentBody } from '../../server/engines/builtin/segmentBody.ts';
import { labelVolumesMl } from '../support/volumes.ts';

test('built-in engine on TotalSegmentator example_ct finds bone, lungs and body with plausible volumes', async (t) => {
  if (!requireTestData(t)) return;
  const ct = await readNifti(testDataPath('nifti/totalsegmentator/example_ct.nii.gz'));
  const seg = segmentBody(ct);
  assert.equal(seg.kind, 'ct');
  assert.deepEqual(
    seg.segments.map((s) => s.name),
    ['body', 'lungs', 'bone'],
  );
  const ml = labelVolumesMl(seg.labelMap.data, ct.spacing);
  const total = Object.values(ml).reduce((a, b) => a + b, 0);
  // Reference (TotalSegmentator --fast on the same CT): lung lobes 111 mL (only the lung bases are in
  // view), bones 1576 mL including marrow, which a 250 HU threshold partly misses at 3 mm voxels.
  assert.ok(ml[BUILTIN_LABELS.lung] > 80 && ml[BUILTIN_LABELS.lung] < 160, `lungs ${ml[BUILTIN_LABELS.lung]} mL`);
  assert.ok(ml[BUILTIN_LABELS.bone] > 350 && ml[BUILTIN_LABELS.bone] < 1800, `bone ${ml[BUILTIN_LABELS.bone]} mL`);
  assert.ok(total > 15_000 && total < 40_000, `body ${total} mL`);
});

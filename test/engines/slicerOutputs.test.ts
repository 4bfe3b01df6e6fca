import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest, parseProgress, parseSegmentsFile } from '../../server/engines/slicer/slicerOutputs.ts';

test("Slicer's segments take the structure table's names by TotalSegmentator class name, whatever id it had", () => {
  const segments = parseSegmentsFile(
    JSON.stringify({
      task: 'total',
      segments: [
        // TotalSegmentator 2.0 and 2.1 numbered rib_left_1 93; the name is what identifies the class.
        {
          label: 1,
          segmentId: 'rib_left_1',
          name: 'rib_left_1',
          color: [0.1, 0.2, 0.3],
          totalSegmentatorName: 'rib_left_1',
          totalSegmentatorId: 93,
        },
        {
          label: 2,
          segmentId: 'kidney_right',
          name: 'right kidney',
          color: [1, 0, 0],
          totalSegmentatorName: 'kidney_right',
          totalSegmentatorId: 2,
        },
        { label: 3, segmentId: 'Segment_1', name: 'my tumour', color: [0, 1, 2] },
      ],
    }),
  );
  assert.deepEqual(
    segments.map((s) => [s.label, s.name, s.totalSegmentatorId, s.color.map((c) => Math.round(c * 255))]),
    [
      [1, 'left rib 1', 92, [253, 232, 158]],
      [2, 'right kidney', 2, [185, 102, 83]],
      [3, 'my tumour', undefined, [0, 255, 255]],
    ],
  );
  assert.throws(
    () => parseSegmentsFile('{"segments":[{"label":0}]}'),
    /segment 1 in the segments file has no valid label/,
  );
});

test('manifest and progress records are narrowed, with refusals and TotalSegmentator lines kept', () => {
  const m = parseManifest(
    JSON.stringify({ status: 'failed', exitCode: 4, outputs: {}, error: { kind: 'refused', message: 'no licence' } }),
  );
  assert.deepEqual(m?.error, { kind: 'refused', message: 'no licence' });
  assert.equal(parseManifest('{"status":"maybe"}'), null);
  assert.deepEqual(parseProgress('{"percent":15,"status":"x","totalsegmentator":"Predicting..."}'), {
    percent: 15,
    status: 'x',
    totalsegmentator: 'Predicting...',
  });
  assert.equal(parseProgress('{"percent":15,"sta'), null);
});

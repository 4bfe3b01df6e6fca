import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PredictionProgress } from '../../server/engines/predictionProgress.ts';
import { isProgressBar, parseTotalSegmentatorLine, refusalIn } from '../../server/engines/totalSegmentatorOutput.ts';

test("TotalSegmentator's stage lines and tqdm bars are recognised as it prints them", () => {
  assert.deepEqual(parseTotalSegmentatorLine('Predicting...'), { kind: 'predicting', part: 1, parts: 1 });
  assert.deepEqual(parseTotalSegmentatorLine('Predicting part 3 of 5 ...'), { kind: 'predicting', part: 3, parts: 5 });
  assert.deepEqual(parseTotalSegmentatorLine('  Predicted in 12.34s'), { kind: 'predicted' });
  assert.deepEqual(parseTotalSegmentatorLine('Resampling...'), { kind: 'resampling' });
  assert.deepEqual(parseTotalSegmentatorLine('Saving segmentations...'), { kind: 'saving' });
  assert.deepEqual(parseTotalSegmentatorLine('Downloading model for Task 297 ...'), { kind: 'download', task: 297 });
  assert.deepEqual(
    parseTotalSegmentatorLine(
      "No GPU detected. Running on CPU. This can be very slow. The '--fast' or the `--roi_subset` option can help to reduce runtime.",
    ),
    { kind: 'no-gpu' },
  );
  assert.deepEqual(parseTotalSegmentatorLine(' 45%|████▌     | 16/36 [00:20<00:25,  1.26s/it]'), {
    kind: 'prediction-progress',
    fraction: 0.45,
  });
  assert.deepEqual(parseTotalSegmentatorLine('Downloading:  20%|██        | 44.0M/220M [00:03<00:12, 14.2MB/s]'), {
    kind: 'download-progress',
    fraction: 0.2,
  });
  assert.equal(
    parseTotalSegmentatorLine('If you use this tool please cite: https://pubs.rsna.org/doi/10.1148/ryai.230024'),
    undefined,
  );
  assert.equal(parseTotalSegmentatorLine('Resampled in 0.52s'), undefined);
  assert.deepEqual(isProgressBar('100%|██████████| 36/36 [00:40<00:00,  1.1s/it]'), { complete: true });
  assert.deepEqual(isProgressBar(' 12%|█▎        | 1/8'), { complete: false });
  assert.equal(isProgressBar('Predicting...'), undefined);
});

test("a refusal is found in TotalSegmentator's own words; a crash is not a refusal", () => {
  const licence = [
    '',
    'If you use this tool please cite: https://pubs.rsna.org/doi/10.1148/ryai.230024',
    'In contrast to the other tasks this task is not openly available.',
    'It requires a license. For non-commercial usage a free license can be',
    'acquired here:',
    'https://backend.totalsegmentator.com/license-academic/',
    '',
    'For commercial usage contact: jakob.wasserthal@usb.ch',
  ];
  assert.equal(
    refusalIn(licence),
    'In contrast to the other tasks this task is not openly available. It requires a license. For non-commercial usage a free license can be acquired here: https://backend.totalsegmentator.com/license-academic/ For commercial usage contact: jakob.wasserthal@usb.ch',
  );
  assert.equal(
    refusalIn([
      'Traceback (most recent call last):',
      '    raise ValueError(f"task {task} does not work with option --fast")',
      'ValueError: task cerebral_bleed does not work with option --fast',
    ]),
    'task cerebral_bleed does not work with option --fast',
  );
  assert.equal(
    refusalIn([
      'usage: TotalSegmentator [-h] -i filepath',
      "TotalSegmentator: error: argument -d/--device: Invalid device type: 'tpu'.",
    ]),
    "argument -d/--device: Invalid device type: 'tpu'.",
  );
  assert.equal(
    refusalIn(['Traceback (most recent call last):', 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB']),
    undefined,
  );
});

function recorder(quality: 'normal' | 'fast' | 'fastest', device: 'gpu' | 'cpu' | 'mps' = 'cpu') {
  let now = 0;
  const reports: Array<[number, string]> = [];
  const p = new PredictionProgress({
    from: 10,
    to: 90,
    quality,
    device,
    now: () => now,
    report: (percent, status) => reports.push([percent, status]),
  });
  return {
    p,
    reports,
    advance: (ms: number) => {
      now += ms;
      p.tick();
    },
    line: (l: string) => {
      const e = parseTotalSegmentatorLine(l);
      if (e) p.event(e);
    },
  };
}

test('a fast prediction with no bar moves by estimate, marked as one, and never reaches its end before it ends', () => {
  const r = recorder('fast');
  r.line('Resampling...');
  r.line('Predicting...');
  const start = r.reports.at(-1)![0];
  for (let s = 0; s < 600; s += 5) r.advance(5000);
  const during = r.reports.filter(([, s]) => s.startsWith('Segmenting with TotalSegmentator'));
  assert.ok(during.length >= 5, `the estimate moved ${during.length} times`);
  assert.ok(during.every(([, s]) => s.endsWith('(progress estimated)')));
  const highest = Math.max(...during.map(([p]) => p));
  assert.ok(highest > start + 30, `estimate rose from ${start} to ${highest}`);
  assert.ok(highest < 10 + 0.9 * 80, 'the estimate leaves the end of the stage to the line that ends it');
  r.line('  Predicted in 600.00s');
  r.line('Resampling...');
  r.line('Saving segmentations...');
  const percents = r.reports.map(([p]) => p);
  assert.deepEqual(
    percents,
    [...percents].sort((a, b) => a - b),
    'never backwards',
  );
  assert.equal(r.reports.at(-1)![1], 'TotalSegmentator: saving the segmentation');
});

test('an estimate starts from the documented CPU and GPU times, then from the parts already done', () => {
  const gpu = recorder('normal', 'gpu');
  gpu.line('Predicting part 1 of 5 ...');
  gpu.advance(8000);
  const cpu = recorder('normal', 'gpu');
  cpu.line(
    "No GPU detected. Running on CPU. This can be very slow. The '--fast' or the `--roi_subset` option can help to reduce runtime.",
  );
  cpu.line('Predicting part 1 of 5 ...');
  cpu.advance(8000);
  assert.ok(gpu.reports.at(-1)![0] > cpu.reports.at(-1)![0], 'a GPU part is expected to end sooner than a CPU part');

  const r = recorder('normal', 'cpu');
  r.line('Predicting part 1 of 5 ...');
  r.advance(10_000);
  r.line('Predicting part 2 of 5 ...');
  const partStart = r.reports.at(-1)![0];
  r.advance(10_000);
  // Part 1 took 10 s, so after 10 s of part 2 the estimate is 1-1/e of its share (0.9 of it at most).
  const share = (0.82 * 80) / 5;
  assert.ok(
    Math.abs(r.reports.at(-1)![0] - (partStart + 0.9 * 0.632 * share)) <= 1.5,
    JSON.stringify(r.reports.at(-1)),
  );
  assert.match(r.reports.at(-1)![1], /^Segmenting with TotalSegmentator, part 2 of 5 \(progress estimated\)$/);
});

test("nnU-Net's bar replaces the estimate inside a part, and the crop model of --roi_subset stays before it", () => {
  const r = recorder('normal', 'gpu');
  r.line('Generating rough segmentation for cropping...');
  r.line('Resampling...');
  r.line('Predicting...');
  r.line('  Predicted in 1.00s');
  r.line('Resampling...');
  const afterCrop = r.reports.at(-1)![0];
  assert.ok(afterCrop <= 10 + 0.08 * 80, `the crop model keeps to the start (${afterCrop})`);
  r.line('Resampling...');
  r.line('Predicting part 1 of 2 ...');
  r.line(' 50%|█████     | 4/8 [00:01<00:01,  3.00it/s]');
  assert.deepEqual(r.reports.at(-1), [
    Math.round(10 + 80 * (0.08 + 0.41 * (0.05 + 0.45))),
    'Segmenting with TotalSegmentator, part 1 of 2',
  ]);
  r.line('Predicting part 2 of 2 ...');
  r.line('100%|██████████| 8/8 [00:02<00:00,  3.00it/s]');
  r.line('  Predicted in 4.00s');
  const percents = r.reports.map(([p]) => p);
  assert.deepEqual(
    percents,
    [...percents].sort((a, b) => a - b),
  );
  assert.equal(r.reports.at(-1)![0], Math.round(10 + 0.9 * 80));
});

test('a first run says it is downloading the model', () => {
  const r = recorder('fast');
  r.line('Downloading model for Task 297 ...');
  r.line('Downloading:  50%|█████     | 110M/220M [00:03<00:12, 14.2MB/s]');
  assert.match(r.reports[0]![1], /Downloading TotalSegmentator's model for task 297 \(first run only\)/);
  assert.equal(r.reports.length, 2);
  assert.ok(r.reports[1]![0] > r.reports[0]![0]);
});

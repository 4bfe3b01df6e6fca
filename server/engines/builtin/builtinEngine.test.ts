import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeSyntheticCt, SYNTHETIC_HU } from '../../../test/support/syntheticCt.ts';
import type { Volume } from '../../volume/volume.ts';
import { fillHolesPerSlice, fillRunHoles, labelComponents, largestComponent } from './components.ts';
import { builtinEngine } from './builtinEngine.ts';
import { BUILTIN_LABELS, segmentBody } from './segmentBody.ts';
import { labelVolumesMl } from '../../../test/support/volumes.ts';

test('connected components: sizes, 6-connectivity, largest', () => {
  const dims: [number, number, number] = [6, 4, 3];
  const mask = new Uint8Array(6 * 4 * 3);
  const at = (x: number, y: number, z: number) => (z * 4 + y) * 6 + x;
  // A 2x2x2 cube, a diagonal neighbour (not 6-connected), and a bar through z.
  for (const [x, y, z] of [
    [0, 0, 0],
    [1, 0, 0],
    [0, 1, 0],
    [1, 1, 0],
    [0, 0, 1],
    [1, 0, 1],
    [0, 1, 1],
    [1, 1, 1],
  ])
    mask[at(x, y, z)] = 1;
  mask[at(2, 2, 2)] = 1;
  for (let z = 0; z < 3; z++) mask[at(5, 3, z)] = 1;
  const c = labelComponents(mask, dims);
  assert.equal(c.count, 3);
  assert.deepEqual(
    [...c.sizes].sort((a, b) => a - b),
    [1, 3, 8],
  );
  assert.equal(c.sizes[largestComponent(c)], 8);
});

test('per-slice hole filling fills enclosed cavities but not regions open to the border', () => {
  const dims: [number, number, number] = [7, 7, 2];
  const mask = new Uint8Array(7 * 7 * 2);
  for (let z = 0; z < 2; z++) {
    for (let y = 1; y <= 5; y++)
      for (let x = 1; x <= 5; x++) if (x === 1 || x === 5 || y === 1 || y === 5) mask[(z * 7 + y) * 7 + x] = 1;
  }
  mask[(1 * 7 + 3) * 7 + 5] = 0; // open the ring in the second slice
  fillHolesPerSlice(mask, dims, 2, 9);
  assert.equal(mask[(0 * 7 + 3) * 7 + 3], 9, 'closed ring filled');
  assert.equal(mask[(1 * 7 + 3) * 7 + 3], 0, 'open ring left alone');
  assert.equal(mask[0], 0, 'outside untouched');
});

test('built-in CT segmentation of a synthetic torso finds body, lungs and bone where they are', () => {
  const ct = makeSyntheticCt({ dims: [96, 96, 60], spacing: [3.75, 3.75, 5], seed: 3 });
  const seg = segmentBody(ct);
  assert.equal(seg.kind, 'ct');
  assert.deepEqual(
    seg.segments.map((s) => s.name),
    ['body', 'lungs', 'bone'],
  );
  assert.deepEqual(seg.segments[0].containsLabels, [BUILTIN_LABELS.lung, BUILTIN_LABELS.bone]);
  assert.ok((seg.segments[0].opacity ?? 1) < 1, 'the skin is see-through');
  const ml = labelVolumesMl(seg.labelMap.data, ct.spacing);
  // Truth from the generator's values: lung parenchyma (-850 HU) inside the body, dense bone.
  let lungTruth = 0;
  let lungCorrect = 0;
  let boneTruth = 0;
  let boneCorrect = 0;
  let lungZ = 0;
  for (let i = 0; i < ct.data.length; i++) {
    const v = ct.data[i];
    if (Math.abs(v - SYNTHETIC_HU.lung) < 60) {
      lungTruth++;
      if (seg.labelMap.data[i] === BUILTIN_LABELS.lung) lungCorrect++;
    }
    if (v > 600) {
      boneTruth++;
      if (seg.labelMap.data[i] === BUILTIN_LABELS.bone) boneCorrect++;
    }
    if (seg.labelMap.data[i] === BUILTIN_LABELS.lung) lungZ += Math.floor(i / (96 * 96));
  }
  assert.ok(lungCorrect / lungTruth > 0.95, `lung parenchyma found: ${lungCorrect}/${lungTruth}`);
  assert.ok(boneCorrect / boneTruth > 0.9, `dense bone found: ${boneCorrect}/${boneTruth}`);
  const lungVoxels = ml[BUILTIN_LABELS.lung] / ((3.75 * 3.75 * 5) / 1000);
  assert.ok(lungZ / lungVoxels > 0.45 * 60, 'lungs are in the upper (superior) part');
  assert.ok(ml[BUILTIN_LABELS.body] > ml[BUILTIN_LABELS.lung], 'soft tissue outweighs lungs');
  // Everything outside the torso ellipse (corners of the grid) is background.
  assert.equal(seg.labelMap.data[0], 0);
});

test('a volume not in Hounsfield units gets body only', () => {
  const dims: [number, number, number] = [40, 40, 20];
  const data = new Int16Array(40 * 40 * 20);
  for (let z = 0; z < 20; z++)
    for (let y = 0; y < 40; y++)
      for (let x = 0; x < 40; x++) {
        const inside = (x - 20) ** 2 + (y - 20) ** 2 < 15 ** 2;
        data[(z * 40 + y) * 40 + x] = inside ? 400 + ((x * 7 + y * 13) % 50) : (x + y) % 9;
      }
  const volume: Volume = { dims, spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], data };
  const seg = segmentBody(volume);
  assert.equal(seg.kind, 'mr');
  assert.deepEqual(
    seg.segments.map((s) => s.name),
    ['body'],
  );
  const ml = labelVolumesMl(seg.labelMap.data, [1, 1, 1]);
  const expected = (Math.PI * 15 ** 2 * 20) / 1000;
  assert.ok(Math.abs(ml[1] - expected) / expected < 0.05, `${ml[1]} vs ${expected}`);
});

test('builtinEngine runs through the Engine contract and reports progress', async () => {
  const ct = makeSyntheticCt({ dims: [64, 64, 40], spacing: [5.6, 5.6, 7.5], seed: 5 });
  const progress: number[] = [];
  const log: string[] = [];
  const result = await builtinEngine.run(
    { volume: ct, niftiPath: '/nonexistent.nii.gz', name: 'x' },
    {
      jobId: 'j',
      workDir: '/tmp',
      signal: new AbortController().signal,
      progress: async (p) => void progress.push(p),
      log: (l) => void log.push(l),
    },
  );
  assert.equal(builtinEngine.name, 'builtin');
  assert.deepEqual(
    result.segments.map((s) => s.name),
    ['body', 'lungs', 'bone'],
  );
  assert.equal(result.labelMap.data.length, ct.data.length);
  assert.deepEqual(result.labelMap.origin, ct.origin);
  assert.equal(progress.at(-1), 100);
  assert.ok(log.some((l) => l.includes('lungs')));
  const aborted = new AbortController();
  aborted.abort(new Error('cancelled by user'));
  await assert.rejects(
    builtinEngine.run(
      { volume: ct, niftiPath: '', name: 'x' },
      { jobId: 'j', workDir: '/tmp', signal: aborted.signal, progress: async () => {}, log: () => {} },
    ),
    /cancelled by user/,
  );
});

test('run-based hole filling fills exactly what pixel-by-pixel hole filling fills, in both plane orientations', () => {
  // Random blobs and rings: many enclosed and open regions, holes inside holes, runs touching the borders.
  let seed = 12345;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  for (const dims of [
    [23, 17, 11],
    [40, 9, 31],
    [1, 5, 4],
    [6, 1, 1],
  ] as Array<[number, number, number]>) {
    for (const density of [0.3, 0.55, 0.8]) {
      const mask = new Uint8Array(dims[0] * dims[1] * dims[2]);
      for (let i = 0; i < mask.length; i++) mask[i] = random() < density ? 1 : 0;
      for (const axis of [1, 2] as const) {
        const pixel = mask.slice();
        fillHolesPerSlice(pixel, dims, axis, 2);
        const runs = mask.slice();
        const filled = fillRunHoles(labelComponents(mask, dims), dims, axis, runs, 2);
        assert.deepEqual(runs, pixel, `dims ${dims} density ${density} axis ${axis}`);
        assert.equal(filled, pixel.filter((v) => v === 2).length);
        // Only over a given label: the other voxels stay as they are.
        const over = mask.map((v, i) => (v === 0 && i % 3 === 0 ? 7 : v));
        const expected = over.map((v, i) => (pixel[i] === 2 && v === 7 ? 2 : v));
        fillRunHoles(labelComponents(mask, dims), dims, axis, over, 2, 7);
        assert.deepEqual(over, expected);
      }
    }
  }
});

test('segmentation is the same whichever index axis runs head-foot (run-based and pixel paths agree)', () => {
  const ct = makeSyntheticCt({ dims: [72, 64, 48], spacing: [5, 5.5, 6], seed: 11 });
  const reference = segmentBody(ct);
  assert.deepEqual(
    reference.segments.map((s) => s.name),
    ['body', 'lungs', 'bone'],
  );
  const [nx, ny, nz] = ct.dims;
  const d = ct.direction;
  const column = (k: number): number[] => [d[k], d[3 + k], d[6 + k]];
  // New index axes (a, b, c) = old axes `order`; the direction's columns follow, so the world is unchanged.
  for (const order of [
    [2, 0, 1],
    [0, 2, 1],
  ] as Array<[number, number, number]>) {
    const oldDims = [nx, ny, nz];
    const dims: [number, number, number] = [oldDims[order[0]], oldDims[order[1]], oldDims[order[2]]];
    const cols = order.map(column);
    const direction = [0, 1, 2].flatMap((row) => cols.map((c) => c[row])) as Volume['direction'];
    const data = new Int16Array(ct.data.length);
    const oldIndex = (a: number, b: number, c: number): number => {
      const idx = [0, 0, 0];
      idx[order[0]] = a;
      idx[order[1]] = b;
      idx[order[2]] = c;
      return (idx[2] * ny + idx[1]) * nx + idx[0];
    };
    for (let c = 0; c < dims[2]; c++)
      for (let b = 0; b < dims[1]; b++)
        for (let a = 0; a < dims[0]; a++) data[(c * dims[1] + b) * dims[0] + a] = ct.data[oldIndex(a, b, c)];
    const permuted: Volume = {
      dims,
      spacing: order.map((k) => ct.spacing[k]) as Volume['spacing'],
      origin: ct.origin,
      direction,
      data,
      modality: 'CT',
    };
    const seg = segmentBody(permuted);
    assert.deepEqual(seg.segments, reference.segments);
    assert.deepEqual(seg.notes, reference.notes);
    let differ = 0;
    for (let c = 0; c < dims[2]; c++)
      for (let b = 0; b < dims[1]; b++)
        for (let a = 0; a < dims[0]; a++) {
          if (seg.labelMap.data[(c * dims[1] + b) * dims[0] + a] !== reference.labelMap.data[oldIndex(a, b, c)])
            differ++;
        }
    assert.equal(differ, 0, `axes ${order}: ${differ} voxels differ`);
  }
});

test('the body is final once outlined: lungs and bone are painted only inside it, as the early mesh relies on', () => {
  for (const [seed, dims] of [
    [3, [96, 96, 60]],
    [11, [80, 72, 48]],
  ] as const) {
    const ct = makeSyntheticCt({ dims: [...dims], spacing: [3.75, 3.75, 5], seed });
    const told: Array<{ name: string; labels: number[]; snapshot: ArrayLike<number> }> = [];
    const seg = segmentBody(ct, undefined, (labelMap, segment) =>
      told.push({
        name: segment.name,
        labels: [segment.label, ...(segment.containsLabels ?? [])],
        snapshot: labelMap.data.slice(),
      }),
    );
    assert.deepEqual(
      told.map((t) => t.name),
      ['body'],
      `seed ${seed}: told once, for the body`,
    );
    const [{ labels, snapshot }] = told;
    assert.deepEqual(labels, [BUILTIN_LABELS.body, BUILTIN_LABELS.lung, BUILTIN_LABELS.bone]);
    const inBody = new Set<number>(labels);
    const final = seg.labelMap.data;
    let moved = 0;
    for (let i = 0; i < final.length; i++) if ((snapshot[i] === BUILTIN_LABELS.body) !== inBody.has(final[i])) moved++;
    assert.equal(moved, 0, `seed ${seed}: voxels that entered or left the body after it was outlined`);
    assert.ok(
      final.some((v) => v === BUILTIN_LABELS.lung) && final.some((v) => v === BUILTIN_LABELS.bone),
      `seed ${seed}: lungs and bone were painted after the call`,
    );
  }
});

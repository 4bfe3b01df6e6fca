import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../../../test/support/syntheticCt.ts';
import type { Volume } from '../../volume/volume.ts';
import { BUILTIN_ALGORITHM, BUILTIN_LABELS, segmentBody } from './segmentBody.ts';

/**
 * Phantoms built to hold one rule each, in HU with scanner-like noise (sigma 10 HU), 1 x 1 x 2 mm
 * voxels: what the built-in engine must and must not call bone, lung or body.
 */

type Painter = (x: number, y: number, z: number) => number | undefined;

function phantom(dims: [number, number, number], painters: Painter[], seed = 1, modality = 'CT'): Volume {
  const [nx, ny, nz] = dims;
  const random = rng(seed);
  const data = new Int16Array(nx * ny * nz);
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        let v = -1000;
        for (const p of painters) v = p(x, y, z) ?? v;
        // Box-Muller noise.
        const noise = Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random()) * 10;
        data[(z * ny + y) * nx + x] = Math.round(v + noise);
      }
  return { dims, spacing: [1, 1, 2], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], data, modality };
}

const disc =
  (cx: number, cy: number, r: number, hu: number | ((x: number, y: number) => number), r0 = 0): Painter =>
  (x, y) => {
    const d = Math.hypot(x - cx, y - cy);
    if (d > r || d < r0) return undefined;
    return typeof hu === 'number' ? hu : hu(x, y);
  };
const ellipse =
  (cx: number, cy: number, rx: number, ry: number, hu: number, inner = 0): Painter =>
  (x, y) => {
    const d = Math.hypot((x - cx) / rx, (y - cy) / ry);
    return d <= 1 && d >= inner ? hu : undefined;
  };
/** Cancellous bone: a lattice of trabeculae (400 HU) in marrow (100 HU), the texture of real spongiosa. */
const trabecular = (x: number, y: number): number =>
  ((x >> 1) + (y >> 1)) % 3 === 0 || (x * 7 + y * 3) % 5 === 0 ? 400 : 100;

function share(
  volume: Volume,
  labels: ArrayLike<number>,
  where: (x: number, y: number, z: number) => boolean,
  label: number,
): number {
  const [nx, ny, nz] = volume.dims;
  let n = 0;
  let hit = 0;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        if (!where(x, y, z)) continue;
        n++;
        if (labels[(z * ny + y) * nx + x] === label) hit++;
      }
  assert.ok(n > 0, 'the region is not empty');
  return hit / n;
}

// A trunk (soft tissue) with a vertebra, a contrast-filled aorta 3 mm in front of it (250 HU, bright as
// in an arterial phase), an arm apart from the
// trunk with a humerus (fatty marrow), and a table below, separated by an air gap.
const torso = phantom(
  [260, 170, 16],
  [
    ellipse(110, 80, 95, 62, 40),
    disc(110, 112, 18, trabecular),
    disc(110, 112, 18, 700, 15),
    disc(110, 80, 11, 250),
    disc(232, 80, 22, 40),
    disc(232, 80, 5, -60),
    disc(232, 80, 9, 800, 5),
    (x, y) => (y >= 152 && y < 155 && x >= 5 && x < 255 ? 300 : undefined),
  ],
);
const torsoSeg = segmentBody(torso);

test('a contrast-filled vessel next to a vertebra is not bone; the vertebra with its marrow is', () => {
  const labels = torsoSeg.labelMap.data;
  const aorta = share(torso, labels, (x, y) => Math.hypot(x - 110, y - 80) < 9, BUILTIN_LABELS.bone);
  assert.ok(aorta < 0.05, `aorta labelled bone: ${(aorta * 100).toFixed(1)}%`);
  const vertebra = share(torso, labels, (x, y) => Math.hypot(x - 110, y - 112) < 17, BUILTIN_LABELS.bone);
  assert.ok(vertebra > 0.95, `vertebra with marrow labelled bone: ${(vertebra * 100).toFixed(1)}%`);
});

test('an arm apart from the trunk stays in the body, with its bone and fatty marrow', () => {
  const labels = torsoSeg.labelMap.data;
  const arm = share(torso, labels, (x, y) => Math.hypot(x - 232, y - 80) < 20, 0);
  assert.equal(arm, 0, 'no arm voxel is background');
  const humerus = share(torso, labels, (x, y) => Math.hypot(x - 232, y - 80) < 8, BUILTIN_LABELS.bone);
  assert.ok(humerus > 0.95, `humerus with marrow labelled bone: ${(humerus * 100).toFixed(1)}%`);
  assert.match(torsoSeg.notes.join('\n'), /body: 2 parts/);
});

test('a table below the body is not body (nor bone)', () => {
  const labels = torsoSeg.labelMap.data;
  const table = share(torso, labels, (x, y) => y >= 152 && y < 155 && x >= 5 && x < 255, 0);
  assert.equal(table, 1, 'every table voxel is background');
  assert.match(torsoSeg.notes.join('\n'), /thin object/);
});

// A head: skull (900 HU, 7 mm) around brain (35 HU), an air-filled sinus (-850 HU) in front.
const head = phantom(
  [200, 200, 16],
  [
    ellipse(100, 100, 80, 92, 40),
    ellipse(100, 105, 74, 82, 900, 0.9),
    ellipse(100, 110, 66, 72, 35),
    ellipse(100, 45, 24, 10, -850),
  ],
);
const headSeg = segmentBody(head);

test("a skull's contents are not bone, and the bone that is found is dense", () => {
  const labels = headSeg.labelMap.data;
  const brain = share(head, labels, (x, y) => Math.hypot((x - 100) / 64, (y - 110) / 70) < 1, BUILTIN_LABELS.bone);
  assert.equal(brain, 0, 'no brain voxel is bone');
  const hu: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === BUILTIN_LABELS.bone) hu.push(head.data[i]);
  hu.sort((a, b) => a - b);
  assert.ok(hu.length > 0 && hu[hu.length >> 1] >= 300, `bone median ${hu[hu.length >> 1]} HU`);
});

test('an air-filled sinus in a head is not lung', () => {
  assert.ok(!headSeg.labelMap.data.includes(BUILTIN_LABELS.lung), 'no voxel is lung');
  assert.deepEqual(
    headSeg.segments.map((s) => s.name),
    ['body', 'bone'],
  );
  assert.match(headSeg.notes.join('\n'), /1 air spaces of \d+ mL outside a chest left out/);
});

test('a CT whose values are not Hounsfield units gets the body only, and says why', () => {
  // Raw values 0..3789 as in a series exported without its rescale: air 0, tissue ~1040, bone ~2000.
  const raw = phantom([60, 60, 10], [() => 20, ellipse(30, 30, 24, 24, 1040), ellipse(30, 30, 20, 20, 2000, 0.85)]);
  const seg = segmentBody(raw);
  assert.equal(seg.kind, 'mr');
  assert.deepEqual(
    seg.segments.map((s) => s.name),
    ['body'],
  );
  assert.match(seg.notes.join('\n'), /values are not Hounsfield units: no air near -1000 \(values -?\d+ to \d+\)/);
  assert.match(seg.segments[0].note ?? '', /values are not Hounsfield units/);
});

test('an MR gets the body only, and its note says so', () => {
  const mr = phantom([60, 60, 10], [() => 20, ellipse(30, 30, 24, 24, 600)], 2, 'MR');
  const seg = segmentBody(mr);
  assert.deepEqual(
    seg.segments.map((s) => s.name),
    ['body'],
  );
  assert.match(seg.segments[0].note ?? '', /modality MR: values are not Hounsfield units/);
});

test('every built-in segment carries a quality note and the algorithm that made it', () => {
  for (const s of [...torsoSeg.segments, ...headSeg.segments]) {
    assert.ok(s.note && s.note.length > 20 && s.note.length < 400, `${s.name}: ${s.note}`);
    assert.deepEqual(s.algorithm, BUILTIN_ALGORITHM);
  }
});

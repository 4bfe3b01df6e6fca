import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SourceSlice } from '../volume/dicomSeries.ts';
import type { Mat3, Vec3 } from '../volume/volume.ts';
import { ALIGNMENT_TOLERANCE, framePlanes } from './framePlanes.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
/** Axial 100x80 images, 0.5 mm pixels, 2 mm apart. */
const grid = {
  dims: [100, 80, 6] as Vec3,
  spacing: [0.5, 0.5, 2] as Vec3,
  origin: [-25, -20, 10] as Vec3,
  direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] as Mat3,
};

function slice(k: number, change: Partial<SourceSlice> = {}): SourceSlice {
  return {
    sopClassUid: CT,
    sopInstanceUid: `1.2.3.${k + 1}`,
    frameNumber: undefined,
    position: [-25, -20, 10 + 2 * k],
    orientation: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.5, 0.5],
    ...change,
  };
}

test('slices of a series read as stored name their images, with the images own positions', () => {
  const slices = [0, 1, 2, 3, 4, 5].map((k) => slice(k));
  // Positions as scanners write them: a few thousandths of a millimetre off the ideal grid.
  slices[3] = slice(3, { position: [-25.002, -19.999, 16.004] });
  const planes = framePlanes(grid, slices);
  assert.equal(planes.length, 6);
  planes.forEach((p, k) => {
    assert.deepEqual(p.source, { sopClassUid: CT, sopInstanceUid: `1.2.3.${k + 1}` });
    assert.deepEqual(p.position, slices[k].position);
  });
});

test('slices resampled away from a gantry tilt match no image but the first, and keep their grid position', () => {
  // An 18.5 degree tilt shifts each image 2 mm * tan(18.5) = 0.67 mm (1.3 pixels) along the columns.
  const shift = 2 * Math.tan((18.5 * Math.PI) / 180);
  const slices = [0, 1, 2, 3, 4, 5].map((k) => slice(k, { position: [-25, -20 + shift * k, 10 + 2 * k] }));
  const planes = framePlanes(grid, slices);
  assert.equal(planes[0].source?.sopInstanceUid, '1.2.3.1');
  for (let k = 1; k < 6; k++) {
    assert.equal(planes[k].source, undefined, `slice ${k}`);
    assert.deepEqual(planes[k].position, [-25, -20, 10 + 2 * k]);
  }
});

test('an image is named only when every pixel of the frame lies on its pixel: offset, spacing and rotation within the tolerance', () => {
  const off = (k: number, change: Partial<SourceSlice>) => {
    const slices = [0, 1, 2, 3, 4, 5].map((j) => slice(j));
    slices[k] = slice(k, change);
    return framePlanes(grid, slices)[k].source;
  };
  const pixel = grid.spacing[0];
  const within = ALIGNMENT_TOLERANCE * 0.9;
  const beyond = ALIGNMENT_TOLERANCE * 1.1;
  // In-plane offset, in pixels.
  assert.ok(off(2, { position: [-25 + within * pixel, -20, 14] }));
  assert.equal(off(2, { position: [-25 + beyond * pixel, -20, 14] }), undefined);
  // Along the normal, in slices.
  assert.ok(off(2, { position: [-25, -20, 14 + within * 2] }));
  assert.equal(off(2, { position: [-25, -20, 14 + beyond * 2] }), undefined);
  // A pixel spacing that drifts by more than the tolerance over the 100 columns.
  assert.ok(off(2, { pixelSpacing: [0.5, 0.5 + (within * pixel) / 99] }));
  assert.equal(off(2, { pixelSpacing: [0.5, 0.5 + (beyond * pixel) / 99] }), undefined);
  // A rotation small enough to pass the reader's 1e-3 orientation check still moves the far corner.
  const angle = 1e-3;
  assert.equal(
    off(2, { orientation: [Math.cos(angle), Math.sin(angle), 0, -Math.sin(angle), Math.cos(angle), 0] }),
    undefined,
  );
});

test('frames of a multi-frame image name their frame number', () => {
  const slices = [0, 1, 2, 3, 4, 5].map((k) => slice(k, { sopInstanceUid: '1.2.3.9', frameNumber: k + 1 }));
  const planes = framePlanes(grid, slices);
  planes.forEach((p, k) =>
    assert.deepEqual(p.source, { sopClassUid: CT, sopInstanceUid: '1.2.3.9', frameNumber: k + 1 }),
  );
});

test('a grid finer than the images (evened-out spacing) names the images it meets and no other', () => {
  // Images at 0, 2, 4, 8, 10 mm: the 6 mm slice of the even grid lies between two images.
  const slices = [0, 1, 2, 4, 5].map((k) => slice(k));
  const planes = framePlanes(grid, slices);
  assert.deepEqual(
    planes.map((p) => p.source?.sopInstanceUid),
    ['1.2.3.1', '1.2.3.2', '1.2.3.3', undefined, '1.2.3.5', '1.2.3.6'],
  );
});

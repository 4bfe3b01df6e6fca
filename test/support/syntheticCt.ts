import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mat3, Vec3, Volume } from '../../server/volume/volume.ts';
import { TS, writePart10 } from './dicomPart10.ts';
import type { Element, WritableTransferSyntax } from './dicomPart10.ts';

/**
 * A torso-like CT in Hounsfield units, generated deterministically from a seed, for tests and benchmarks
 * that must run without the real data. Axial slices in LPS: index i runs to the patient's left, j to
 * posterior, k to superior; so the spine sits at large j and the lungs fill the upper (large k) part.
 *
 * Tissues (HU): air -1000, skin 40, subcutaneous fat -100, muscle/organs 40, liver 60 (lower right),
 * aorta 200, lungs -850 with vessels 40, vertebrae 400 (cancellous) with a 1000 HU cortex, discs 80,
 * spinal canal 15, ribs 700 (thoracic levels). Gaussian noise sigma 12 HU, values clipped to the range a
 * scanner stores (-1024..3071).
 */

export interface SyntheticCtOptions {
  dims: Vec3;
  /** mm; default 0.703125 x 0.703125 x 1 (a 360 mm field of view at 512). */
  spacing?: Vec3;
  seed?: number;
  /** Noise sigma in HU (default 12). */
  noise?: number;
}

export const SYNTHETIC_HU = {
  air: -1000,
  skin: 40,
  fat: -100,
  muscle: 40,
  liver: 60,
  aorta: 200,
  lung: -850,
  vessel: 40,
  cancellousBone: 400,
  corticalBone: 1000,
  disc: 80,
  canal: 15,
  rib: 700,
} as const;

/** mulberry32: small, fast and good enough for test noise; the point is determinism, not quality. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A table of Gaussian samples indexed by a cheap hash keeps noise generation at a few ns per voxel. */
function gaussianTable(random: () => number, size: number, sigma: number): Int16Array {
  const table = new Int16Array(size);
  for (let i = 0; i < size; i += 2) {
    const u1 = Math.max(random(), 1e-12);
    const u2 = random();
    const r = Math.sqrt(-2 * Math.log(u1)) * sigma;
    table[i] = Math.round(r * Math.cos(2 * Math.PI * u2));
    if (i + 1 < size) table[i + 1] = Math.round(r * Math.sin(2 * Math.PI * u2));
  }
  return table;
}

interface Vessel {
  u: number;
  v: number;
  r: number;
  phase: number;
}

export function makeSyntheticCt(opts: SyntheticCtOptions): Volume<Int16Array> {
  const [nx, ny, nz] = opts.dims;
  const spacing: Vec3 = opts.spacing ?? [0.703125, 0.703125, 1];
  const random = rng(opts.seed ?? 1);
  const noise = gaussianTable(random, 1 << 16, opts.noise ?? 12);
  const data = new Int16Array(nx * ny * nz);

  // Physical sizes in mm so anatomy keeps its proportions whatever the grid; the body fills ~85% of x.
  const fovX = nx * spacing[0];
  const fovY = ny * spacing[1];
  const height = nz * spacing[2];
  const bodyA = 0.43 * fovX;
  const bodyB = Math.min(0.3 * fovX, 0.45 * fovY);
  const vessels: Vessel[] = [];
  for (let n = 0; n < 24; n++) {
    vessels.push({
      u: (random() - 0.5) * 0.8,
      v: (random() - 0.5) * 1.2,
      r: 1 + random() * 2.5,
      phase: random() * Math.PI * 2,
    });
  }
  let hash = (opts.seed ?? 1) * 2654435761;

  for (let k = 0; k < nz; k++) {
    const zmm = k * spacing[2];
    const w = nz > 1 ? k / (nz - 1) : 0.5;
    // The torso narrows slightly towards the top; lungs occupy the upper 55%, liver the lower-right part.
    const scale = 1 - 0.08 * w;
    const a = bodyA * scale;
    const b = bodyB * scale;
    const thorax = w > 0.45;
    const lungGrow = thorax ? Math.min(1, (w - 0.45) / 0.15) : 0;
    const lungA = 0.3 * a * lungGrow;
    const lungB = 0.62 * b * lungGrow;
    const lungCx = 0.42 * a;
    const lungCy = -0.05 * b;
    const spineCy = 0.55 * b;
    const spineR = Math.max(0.11 * a, 8);
    const discLevel = zmm % 28 < 5;
    const ribLevel = thorax && zmm % 24 < 9;
    const liver = w < 0.6;
    const base = k * nx * ny;
    for (let j = 0; j < ny; j++) {
      const y = (j - (ny - 1) / 2) * spacing[1];
      const rowBase = base + j * nx;
      for (let i = 0; i < nx; i++) {
        const x = (i - (nx - 1) / 2) * spacing[0];
        const e = (x / a) ** 2 + (y / b) ** 2;
        let hu: number = SYNTHETIC_HU.air;
        if (e <= 1) {
          const depth = (1 - Math.sqrt(e)) * Math.min(a, b); // approx. mm under the skin
          if (depth < 2) hu = SYNTHETIC_HU.skin;
          else if (depth < 14) hu = SYNTHETIC_HU.fat;
          else {
            hu = SYNTHETIC_HU.muscle;
            // Ribs: a ring just inside the fat at thoracic levels, broken in front (sternal gap) and behind.
            if (ribLevel && depth < 24 && depth > 15 && y > -0.75 * b && Math.abs(x) > 0.12 * a) hu = SYNTHETIC_HU.rib;
            const sx = x / spineR;
            const sy = (y - spineCy) / spineR;
            const sd = sx * sx + sy * sy;
            const canalY = (y - (spineCy + 1.35 * spineR)) / (0.45 * spineR);
            const cd = (x / (0.45 * spineR)) ** 2 + canalY * canalY;
            if (sd <= 1) {
              hu = discLevel ? SYNTHETIC_HU.disc : sd > 0.72 ? SYNTHETIC_HU.corticalBone : SYNTHETIC_HU.cancellousBone;
            } else if (cd <= 1) {
              hu = SYNTHETIC_HU.canal;
            } else if (cd <= 2.2 && y > spineCy) {
              hu = SYNTHETIC_HU.corticalBone; // posterior arch around the canal
            } else {
              const ax = (x - 0.12 * a) / (0.08 * a);
              const ay = (y - (spineCy - 1.5 * spineR)) / (0.08 * a);
              if (ax * ax + ay * ay <= 1) hu = SYNTHETIC_HU.aorta;
              else {
                const lx = lungGrow > 0 ? (Math.abs(x) - lungCx) / lungA : 2;
                const ly = lungGrow > 0 ? (y - lungCy) / lungB : 2;
                if (lx * lx + ly * ly <= 1) {
                  hu = SYNTHETIC_HU.lung;
                  const side = x < 0 ? -1 : 1;
                  for (const vs of vessels) {
                    const vx = side * lungCx + vs.u * lungA + 6 * Math.sin(zmm / 40 + vs.phase);
                    const vy = lungCy + vs.v * lungB * 0.8;
                    const dx = x - vx;
                    const dy = y - vy;
                    if (dx * dx + dy * dy <= vs.r * vs.r) {
                      hu = SYNTHETIC_HU.vessel;
                      break;
                    }
                  }
                } else if (liver && x < -0.05 * a && y < 0.35 * b) {
                  const hx = (x + 0.45 * a) / (0.42 * a);
                  const hy = (y + 0.05 * b) / (0.6 * b);
                  if (hx * hx + hy * hy <= 1) hu = SYNTHETIC_HU.liver;
                }
              }
            }
          }
        }
        hash = (Math.imul(hash ^ (hash >>> 13), 0x5bd1e995) + i) | 0;
        const v = hu + noise[(hash >>> 8) & 0xffff];
        data[rowBase + i] = v < -1024 ? -1024 : v > 3071 ? 3071 : v;
      }
    }
  }
  const direction: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const origin: Vec3 = [-((nx - 1) / 2) * spacing[0], -((ny - 1) / 2) * spacing[1], -height / 2];
  return { dims: [nx, ny, nz], spacing, origin, direction, data, modality: 'CT' };
}

export interface SyntheticDicomOptions {
  studyUid?: string;
  seriesUid?: string;
  frameOfReferenceUid?: string;
  transferSyntax?: WritableTransferSyntax;
  seriesDescription?: string;
  /** Stored value = HU - intercept; default -1024 with unsigned pixels, as most scanners store CT. */
  rescaleIntercept?: number;
  patientName?: string;
  patientId?: string;
}

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

/** A random `2.25.` UID (PS3.5 B.2: a UUID as one decimal integer). */
export function newUid(): string {
  const hex = crypto.randomUUID().replace(/-/g, '');
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

/**
 * One Part-10 CT Image Storage file per slice, in memory, slice 0 first. Geometry follows the volume:
 * IOP = the first two columns of `direction`, IPP = origin + k * spacing[2] * third column.
 */
export function syntheticDicomSliceBuffers(volume: Volume, opts: SyntheticDicomOptions = {}): Buffer[] {
  return [...syntheticDicomSlices(volume, opts)];
}

/** The same slices one at a time, so a writer never holds the whole series. */
export function* syntheticDicomSlices(volume: Volume, opts: SyntheticDicomOptions = {}): Generator<Buffer> {
  const [nx, ny, nz] = volume.dims;
  const d = volume.direction;
  const ts = opts.transferSyntax ?? TS.explicitLittle;
  const studyUid = opts.studyUid ?? newUid();
  const seriesUid = opts.seriesUid ?? newUid();
  const forUid = opts.frameOfReferenceUid ?? newUid();
  const intercept = opts.rescaleIntercept ?? -1024;
  const unsigned = intercept <= -1024;
  const src = volume.data;
  const sliceSize = nx * ny;
  const iop = [d[0], d[3], d[6], d[1], d[4], d[7]].map((v) => Number(v.toFixed(6)));
  for (let k = 0; k < nz; k++) {
    const pixels = unsigned ? new Uint16Array(sliceSize) : new Int16Array(sliceSize);
    const off = k * sliceSize;
    for (let p = 0; p < sliceSize; p++) pixels[p] = Math.round(src[off + p]) - intercept;
    const ipp = [0, 1, 2].map((r) => volume.origin[r] + k * volume.spacing[2] * d[r * 3 + 2]);
    const sopInstanceUid = `${seriesUid}.${k + 1}`;
    const el: Element[] = [
      { tag: '00080005', vr: 'CS', value: 'ISO_IR 100' },
      { tag: '00080008', vr: 'CS', value: ['ORIGINAL', 'PRIMARY', 'AXIAL'] },
      { tag: '00080016', vr: 'UI', value: CT_IMAGE_STORAGE },
      { tag: '00080018', vr: 'UI', value: sopInstanceUid },
      { tag: '00080020', vr: 'DA', value: '20240115' },
      { tag: '00080030', vr: 'TM', value: '101500' },
      { tag: '00080050', vr: 'SH', value: 'ACC0001' },
      { tag: '00080060', vr: 'CS', value: volume.modality ?? 'CT' },
      { tag: '00080070', vr: 'LO', value: 'anatomy-gateway synthetic' },
      { tag: '0008103E', vr: 'LO', value: opts.seriesDescription ?? 'Synthetic torso CT' },
      { tag: '00100010', vr: 'PN', value: opts.patientName ?? 'Phantom^Synthetic' },
      { tag: '00100020', vr: 'LO', value: opts.patientId ?? 'SYNTH-0001' },
      { tag: '00100030', vr: 'DA', value: '19700101' },
      { tag: '00100040', vr: 'CS', value: 'O' },
      { tag: '00180050', vr: 'DS', value: volume.spacing[2] },
      { tag: '00180060', vr: 'DS', value: 120 },
      { tag: '0020000D', vr: 'UI', value: studyUid },
      { tag: '0020000E', vr: 'UI', value: seriesUid },
      { tag: '00200010', vr: 'SH', value: '1' },
      { tag: '00200011', vr: 'IS', value: 1 },
      { tag: '00200013', vr: 'IS', value: k + 1 },
      { tag: '00200032', vr: 'DS', value: ipp },
      { tag: '00200037', vr: 'DS', value: iop },
      { tag: '00200052', vr: 'UI', value: forUid },
      { tag: '00201041', vr: 'DS', value: Number(ipp[2].toFixed(4)) },
      { tag: '00280002', vr: 'US', value: 1 },
      { tag: '00280004', vr: 'CS', value: 'MONOCHROME2' },
      { tag: '00280010', vr: 'US', value: ny },
      { tag: '00280011', vr: 'US', value: nx },
      { tag: '00280030', vr: 'DS', value: [volume.spacing[1], volume.spacing[0]] },
      { tag: '00280100', vr: 'US', value: 16 },
      { tag: '00280101', vr: 'US', value: unsigned ? 12 : 16 },
      { tag: '00280102', vr: 'US', value: unsigned ? 11 : 15 },
      { tag: '00280103', vr: 'US', value: unsigned ? 0 : 1 },
      { tag: '00281050', vr: 'DS', value: 40 },
      { tag: '00281051', vr: 'DS', value: 400 },
      { tag: '00281052', vr: 'DS', value: intercept },
      { tag: '00281053', vr: 'DS', value: 1 },
      { tag: '00281054', vr: 'LO', value: 'HU' },
      { tag: '7FE00010', vr: 'OW', value: pixels },
    ];
    yield writePart10(el, { sopClassUid: CT_IMAGE_STORAGE, sopInstanceUid, transferSyntax: ts });
  }
}

/** Writes the slices as `dir/IM00001.dcm`... and returns the paths in slice order. */
export async function writeSyntheticDicomSeries(
  dir: string,
  volume: Volume,
  opts: SyntheticDicomOptions = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  let pending: Promise<void>[] = [];
  for (const buffer of syntheticDicomSlices(volume, opts)) {
    const path = join(dir, `IM${String(paths.length + 1).padStart(5, '0')}.dcm`);
    paths.push(path);
    pending.push(writeFile(path, buffer));
    // A few writes in flight keep the disk busy without holding the whole series in memory.
    if (pending.length >= 8) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return paths;
}

/** The same slice under another Series Instance UID of the same length (its SOP Instance UID unchanged). */
export function inOtherSeries(slice: Buffer, from: string, to: string): Buffer {
  assert.equal(to.length, from.length);
  const out = Buffer.from(slice);
  // Explicit VR little endian: tag (0020,000E), "UI", 2-byte length, then the value.
  const at = out.indexOf(Buffer.from([0x20, 0x00, 0x0e, 0x00, 0x55, 0x49]), 132);
  assert.equal(out.toString('latin1', at + 8, at + 8 + from.length), from);
  out.write(to, at + 8, 'latin1');
  return out;
}

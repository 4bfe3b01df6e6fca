import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import { BUILTIN_LABELS, segmentBody } from '../server/engines/builtin/segmentBody.ts';
import { compareWithReference, resampleToGrid, type StructureScore } from '../test/support/referenceComparison.ts';
import { exportModels } from '../server/mesh/exportModels.ts';
import { readDicomSeries } from '../server/volume/dicomSeries.ts';
import { readNifti } from '../server/volume/nifti.ts';
import type { Volume } from '../server/volume/volume.ts';
import { TEST_DATA_DIR } from '../test/support/requirements.ts';

/**
 * `npm run bench -- quality`: the built-in engine on every shared case, measured. Against
 * TotalSegmentator's labels (world space, nearest voxel): Dice, volume ratio, precision and recall
 * of bone and lungs, and the share of the reference's labelled voxels inside our body. For the head
 * CTs: lungs found (none expected) and the median HU of the bone. For every case: the exported glTF's
 * meshes, and per mesh the edges not shared by exactly two triangles (0 for a closed 2-manifold).
 * Targets in docs/quality.md, where the table lives.
 */

interface Case {
  name: string;
  load: () => Promise<Volume>;
  reference?: string;
  head?: boolean;
}

const data = (...p: string[]): string => join(TEST_DATA_DIR, ...p);
const series = async (dir: string): Promise<Volume> =>
  (await readDicomSeries(readdirSync(data(dir)).map((f) => data(dir, f)))).volume;

const CASES: Case[] = [
  {
    name: 'example_ct',
    load: () => readNifti(data('nifti/totalsegmentator/example_ct.nii.gz')),
    reference: 'nifti/totalsegmentator/example_seg_fast_force_split.nii.gz',
  },
  {
    name: 'example_ct_sm',
    load: () => readNifti(data('nifti/totalsegmentator/example_ct_sm.nii.gz')),
    reference: 'nifti/totalsegmentator/example_seg_fast.nii.gz',
  },
  {
    name: 'torso DICOM (contrast)',
    load: () => series('derived_made_here/dicom/totalseg_torso_20sl_uids_uncompressed'),
    reference: 'nifti/totalsegmentator/example_seg_dicom.nii.gz',
  },
  { name: 'GE head', load: () => series('dicom/ct_series/dcmqa_ge_head_tilt_28sl'), head: true },
  { name: 'Philips head phantom', load: () => series('dicom/ct_series/dcmqa_philips_phantom_tilt_54sl'), head: true },
  { name: 'Slicer head (not HU)', load: () => series('dicom/ct_series/slicer_cthead_93sl_64px') },
  { name: 'example_mr_sm', load: () => readNifti(data('nifti/totalsegmentator/example_mr_sm.nii.gz')) },
];

const r3 = (v: number): number => Math.round(v * 1000) / 1000;
const score = (s: StructureScore): Record<string, number> => ({
  dice: r3(s.dice),
  volumeRatio: r3(s.volumeRatio),
  oursMl: r3(s.oursMl),
  referenceMl: r3(s.referenceMl),
  precision: r3(s.precision),
  recall: r3(s.recall),
});

/** Edges (by welded vertex position) used by other than exactly two triangles, per mesh of a glTF. */
export async function nonManifoldEdges(gltfPath: string): Promise<Record<string, number>> {
  const doc = await new NodeIO().read(gltfPath);
  const out: Record<string, number> = {};
  for (const mesh of doc.getRoot().listMeshes()) {
    let bad = 0;
    for (const prim of mesh.listPrimitives()) {
      const pos = prim.getAttribute('POSITION')?.getArray();
      const idx = prim.getIndices()?.getArray();
      if (!pos || !idx) continue;
      const weld = new Map<string, number>();
      const id = new Uint32Array(pos.length / 3);
      for (let v = 0; v < id.length; v++) {
        const key = `${pos[3 * v]},${pos[3 * v + 1]},${pos[3 * v + 2]}`;
        let w = weld.get(key);
        if (w === undefined) weld.set(key, (w = weld.size));
        id[v] = w;
      }
      const uses = new Map<number, number>();
      const n = weld.size;
      for (let t = 0; t < idx.length; t += 3) {
        for (let e = 0; e < 3; e++) {
          const a = id[idx[t + e]];
          const b = id[idx[t + ((e + 1) % 3)]];
          const k = Math.min(a, b) * n + Math.max(a, b);
          uses.set(k, (uses.get(k) ?? 0) + 1);
        }
      }
      for (const u of uses.values()) if (u !== 2) bad++;
    }
    out[mesh.getName() || 'mesh'] = bad;
  }
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[s.length >> 1];
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'quality-bench-'));
  const cases: Record<string, unknown> = {};
  try {
    for (const c of CASES) {
      process.stderr.write(`quality bench: ${c.name}\n`);
      const volume = await c.load();
      const started = performance.now();
      const seg = segmentBody(volume);
      const row: Record<string, unknown> = {
        segmentSeconds: r3((performance.now() - started) / 1000),
        kind: seg.kind,
        segments: seg.segments.map((s) => s.name),
        notes: seg.notes,
      };
      const voxelMl = (volume.spacing[0] * volume.spacing[1] * volume.spacing[2]) / 1000;
      if (c.reference) {
        const reference = await readNifti(data(c.reference));
        const cmp = compareWithReference(seg.labelMap, resampleToGrid(reference, seg.labelMap), {
          bone: BUILTIN_LABELS.bone,
          lungs: BUILTIN_LABELS.lung,
        });
        row.bone = score(cmp.bone);
        row.lungs = score(cmp.lungs);
        row.referenceInsideBody = r3(cmp.referenceInsideBody);
      }
      if (c.head) {
        const hu: number[] = [];
        let lungs = 0;
        for (let i = 0; i < seg.labelMap.data.length; i++) {
          if (seg.labelMap.data[i] === BUILTIN_LABELS.bone) hu.push(volume.data[i]);
          if (seg.labelMap.data[i] === BUILTIN_LABELS.lung) lungs++;
        }
        row.lungsMl = r3(lungs * voxelMl);
        row.boneMl = r3(hu.length * voxelMl);
        row.boneMedianHu = median(hu);
      }
      const out = join(dir, c.name.replace(/[^A-Za-z0-9]+/g, '_'));
      const exported = await exportModels({
        labelMap: seg.labelMap,
        segments: seg.segments,
        outDir: dir,
        name: out.slice(dir.length + 1),
        reduction: 0.5,
      });
      row.nonManifoldEdges = await nonManifoldEdges(`${out}.gltf`);
      row.meshVolumeMl = Object.fromEntries(exported.segments.map((s) => [s.name, r3(s.meshVolumeMl)]));
      cases[c.name] = row;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    reference: 'TotalSegmentator --fast labels in shared data, compared in world space (nearest voxel)',
    targets: {
      boneDice: { example_ct: 0.85, example_ct_sm: 0.8, 'torso DICOM (contrast)': 0.72 },
      lungsDice: 0.95,
      referenceInsideBody: 0.995,
      headCts: 'no lungs, bone median >= 300 HU',
      nonManifoldEdges: 0,
    },
    cases,
  };
}

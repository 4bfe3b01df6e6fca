import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import { weldedManifoldReport, type ManifoldReport } from '../server/mesh/manifold.ts';
import { read3mf, readStlZip } from '../test/support/printFiles.ts';
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
 * CTs: lungs found (none expected) and the median HU of the bone. For every case: every mesh of the
 * exported glTF, 3MF and STL read back, with its edges not in exactly two triangles and its vertices
 * not closed by one fan of triangles (both 0 for a closed 2-manifold).
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

/**
 * Per mesh of a glTF: edges (vertices welded by position) in other than exactly two triangles, and
 * vertices whose triangles do not close one fan around them.
 */
export async function gltfManifold(gltfPath: string): Promise<Record<string, ManifoldReport>> {
  const doc = await new NodeIO().read(gltfPath);
  const out: Record<string, ManifoldReport> = {};
  for (const mesh of doc.getRoot().listMeshes()) {
    for (const prim of mesh.listPrimitives()) {
      const pos = prim.getAttribute('POSITION')?.getArray();
      const idx = prim.getIndices()?.getArray();
      if (pos && idx) out[mesh.getName() || 'mesh'] = weldedManifoldReport(pos, idx);
    }
  }
  return out;
}

/** The manifold check of every mesh of a case, in each file format: non-manifold edges and vertices. */
async function manifoldOfFiles(base: string): Promise<Record<string, Record<string, string>>> {
  const show = (r: ManifoldReport): string =>
    `${r.nonManifoldEdges} edges, ${r.nonManifoldVertices} vertices` +
    (r.repeatedDirectedEdges + r.degenerateTriangles
      ? `, ${r.repeatedDirectedEdges + r.degenerateTriangles} other`
      : '');
  const gltf = Object.fromEntries(Object.entries(await gltfManifold(`${base}.gltf`)).map(([k, r]) => [k, show(r)]));
  const threeMf = Object.fromEntries((await read3mf(`${base}.3mf`)).objects.map((o) => [o.name, show(o.manifold)]));
  const stl = Object.fromEntries((await readStlZip(`${base}_stl.zip`)).map((f) => [f.name, show(f.manifold)]));
  return { gltf, '3mf': threeMf, stl };
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
      row.manifold = await manifoldOfFiles(out);
      row.triangles = Object.fromEntries(exported.segments.map((s) => [s.name, s.triangles]));
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
      manifold: '0 edges, 0 vertices in every mesh of glTF, 3MF and STL',
    },
    cases,
  };
}

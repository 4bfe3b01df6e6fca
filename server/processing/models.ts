import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeIO, type Document } from '@gltf-transform/core';
import type { EngineResult } from '../engines/engine.ts';
import { exportModels, type ExportSegment, type SegmentStats } from '../mesh/exportModels.ts';
import { labelStats } from '../mesh/labelStats.ts';
import type { StartedMeshes } from '../mesh/startedMeshes.ts';
import { writePrintFiles, type PrintModel } from '../mesh/printFiles.ts';

/**
 * The models of a result: the engine's own glTF when it made one (Slicer's OpenAnatomy export), else meshes made
 * from its label map here. Returns the structures with their statistics.
 */
export async function writeModels(opts: {
  engineResult: EngineResult;
  outDir: string;
  name: string;
  reduction: number;
  signal: AbortSignal;
  stage: (pct: number, status: string) => Promise<void>;
  /** Meshes the engine started while it segmented. */
  started?: StartedMeshes;
}): Promise<SegmentStats[]> {
  const { engineResult, outDir, name } = opts;
  if (engineResult.gltfPath) {
    await opts.stage(72, "taking the engine's glTF");
    await copyFile(engineResult.gltfPath, join(outDir, `${name}.gltf`));
    const io = new NodeIO();
    const doc = await io.read(engineResult.gltfPath);
    await writeFile(join(outDir, `${name}.glb`), await io.writeBinary(doc));
    // The print files from the engine's own meshes, as they are (not checked or repaired here).
    await writePrintFiles(outDir, name, printModelsOf(doc), opts.signal);
    const segments = voxelStats(engineResult);
    await writeFile(join(outDir, `${name}_segments.json`), `${JSON.stringify({ name, segments }, null, 2)}\n`);
    return segments;
  }
  const exported = await exportModels({
    labelMap: engineResult.labelMap,
    segments: engineResult.segments as ExportSegment[],
    outDir,
    name,
    reduction: opts.reduction,
    signal: opts.signal,
    started: opts.started,
    onProgress: (f, status) => opts.stage(70 + f * 22, status),
  });
  return exported.segments;
}

/** GL_TRIANGLES, the only primitive mode that makes a printable part. */
const TRIANGLES = 4;

/**
 * Each mesh of an OpenAnatomy glTF (positions in LPS millimetres, the root node's matrix only
 * turning them into glTF metres) as one printable part: its primitives' triangles joined, its
 * material's colour.
 */
function printModelsOf(doc: Document): PrintModel[] {
  return doc
    .getRoot()
    .listMeshes()
    .flatMap((mesh): PrintModel[] => {
      const positions: number[] = [];
      const indices: number[] = [];
      let color: [number, number, number] = [0.8, 0.8, 0.8];
      let opacity = 1;
      for (const prim of mesh.listPrimitives()) {
        const pos = prim.getAttribute('POSITION')?.getArray();
        if (!pos || prim.getMode() !== TRIANGLES) continue;
        const base = positions.length / 3;
        for (let i = 0; i < pos.length; i++) positions.push(pos[i]);
        const idx = prim.getIndices()?.getArray();
        const count = idx ? idx.length : pos.length / 3;
        for (let i = 0; i < count; i++) indices.push(base + (idx ? idx[i] : i));
        const factor = prim.getMaterial()?.getBaseColorFactor();
        if (factor) {
          color = [factor[0], factor[1], factor[2]];
          opacity = factor[3];
        }
      }
      if (indices.length === 0) return [];
      const surface = { positions: Float32Array.from(positions), indices: Uint32Array.from(indices) };
      return [{ name: mesh.getName() || 'structure', color, opacity, surface }];
    });
}

/** Statistics of an engine's own glTF: the label map gives voxel counts; triangles are not re-counted. */
function voxelStats(result: EngineResult): SegmentStats[] {
  const stats = labelStats(result.labelMap);
  const [sx, sy, sz] = result.labelMap.spacing;
  const voxelMl = (sx * sy * sz) / 1000;
  return result.segments
    .filter((s) => stats.has(s.label))
    .map((s) => {
      const st = stats.get(s.label);
      const voxels = st?.voxels ?? 0;
      return {
        label: s.label,
        name: s.name,
        color: s.color,
        colorHex: `#${s.color
          .map((c) =>
            Math.round(c * 255)
              .toString(16)
              .padStart(2, '0'),
          )
          .join('')}`,
        opacity: s.opacity ?? 1,
        voxels,
        volumeMl: Math.round(voxels * voxelMl * 1000) / 1000,
        meshVolumeMl: 0,
        triangles: 0,
        bounds: { min: [0, 0, 0], max: [0, 0, 0] },
        ...(s.totalSegmentatorId === undefined ? {} : { totalSegmentatorId: s.totalSegmentatorId }),
      };
    });
}

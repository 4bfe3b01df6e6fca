import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSyntheticCt } from '../test/support/syntheticCt.ts';
import { segmentBody } from '../server/engines/builtin/segmentBody.ts';
import { buildGltf, type GltfModel } from '../server/mesh/gltf.ts';
import { labelStats } from '../server/mesh/labelStats.ts';
import { decimate, gridToLps, triangleCount, vertexNormals } from '../server/mesh/meshOps.ts';
import { smoothSurface } from '../server/mesh/smooth.ts';
import { extractSurface, type SurfaceMesh } from '../server/mesh/surfaceNets.ts';
import { readNifti, writeNifti } from '../server/volume/nifti.ts';
import { writeFile } from 'node:fs/promises';

/**
 * The built-in pipeline on a generated 512x512x300 CT (body, lungs, bone): seconds per stage and
 * peak RSS, against VTK 9.1's figures for the same volume (research/performance.md): surfaces
 * 0.35 s, smoothing 0.94 s, decimation to 50% 23-27 s, peak RSS 2.26 GB. Target: read to glTF in
 * at most a third of VTK's surface + smoothing + decimation, peak RSS under 1 GB.
 */
export async function run(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-bench-'));
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const input = join(dir, 'ct.nii.gz');
    {
      const ct = makeSyntheticCt({ dims: [512, 512, 300], seed: 7 });
      await writeNifti(input, ct, { level: 1 });
    }
    global.gc?.();
    peak = process.memoryUsage().rss;
    const seconds: Record<string, number> = {};
    const time = async <T>(stage: string, fn: () => T | Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const out = await fn();
      seconds[stage] = (seconds[stage] ?? 0) + (performance.now() - t0) / 1000;
      peak = Math.max(peak, process.memoryUsage().rss);
      return out;
    };

    const reduction = 0.5;
    const volume = await time('read', () => readNifti(input));
    const seg = await time('segment', () => segmentBody(volume));
    const stats = await time('surface', () => labelStats(seg.labelMap));
    const models: GltfModel[] = [];
    const triangles: Record<string, { surface: number; decimated: number }> = {};
    for (const segment of seg.segments) {
      const labels = [segment.label, ...(segment.containsLabels ?? [])];
      const boxes = labels.map((l) => stats.get(l)).filter((b) => b !== undefined);
      const box = {
        min: [0, 1, 2].map((k) => Math.min(...boxes.map((b) => b.min[k]))) as [number, number, number],
        max: [0, 1, 2].map((k) => Math.max(...boxes.map((b) => b.max[k]))) as [number, number, number],
      };
      const include = new Uint8Array(256);
      for (const l of labels) include[l] = 1;
      let mesh: SurfaceMesh = await time('surface', () => extractSurface(seg.labelMap.data, volume.dims, volume.spacing, include, box));
      const surfaceTriangles = triangleCount(mesh);
      await time('smooth', () => smoothSurface(mesh, volume.spacing));
      gridToLps(mesh, volume.origin, volume.direction);
      mesh = await time('decimate', () => decimate(mesh, reduction));
      const normals = await time('write', () => vertexNormals(mesh));
      triangles[segment.name] = { surface: surfaceTriangles, decimated: triangleCount(mesh) };
      models.push({ name: segment.name, color: segment.color, opacity: segment.opacity ?? 1, positions: mesh.positions, normals, indices: mesh.indices });
    }
    await time('write', async () => {
      const files = await buildGltf('bench', models);
      await writeFile(join(dir, 'bench.gltf'), files.gltf);
      await writeFile(join(dir, 'bench.glb'), files.glb);
    });
    const total = Object.values(seconds).reduce((a, b) => a + b, 0);
    const vtkSeconds = 0.35 + 0.94 + 25;
    const rounded = Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(v * 1000) / 1000]));
    return {
      volume: '512x512x300 int16, 0.703x0.703x1 mm (synthetic torso CT)',
      decimation: `${reduction * 100}% of triangles removed (as in VTK's reference)`,
      seconds: { ...rounded, total: Math.round(total * 1000) / 1000 },
      triangles,
      peakRssMb: Math.round(peak / 2 ** 20),
      vtkReference: { surfaceSeconds: 0.35, smoothSeconds: 0.94, decimateSeconds: '23-27', peakRssMb: 2314 },
      target: { totalSeconds: Math.round((vtkSeconds / 3) * 100) / 100, peakRssMb: 1024 },
      meetsTarget: total <= vtkSeconds / 3 && peak < 2 ** 30,
    };
  } finally {
    clearInterval(sampler);
    await rm(dir, { recursive: true, force: true });
  }
}

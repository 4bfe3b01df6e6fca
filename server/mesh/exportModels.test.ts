import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmptySegmentationError, exportModels, type ExportModelsOptions, type SegmentStats } from './exportModels.ts';
import { LPS_MM_TO_GLTF } from './gltf.ts';
import { errorLines, validateGltf } from './gltfValidation.ts';
import { ellipsoidLabelMap } from './testShapes.ts';

interface GltfJson {
  scene?: number;
  scenes: Array<{ nodes: number[] }>;
  nodes: Array<{ name: string; children?: number[]; mesh?: number; matrix?: number[] }>;
  meshes: Array<{ name: string; primitives: Array<{ attributes: Record<string, number>; material: number }> }>;
  materials: Array<{ name?: string; alphaMode?: string; pbrMetallicRoughness: { baseColorFactor: number[] } }>;
  accessors: Array<{ min?: number[]; max?: number[] }>;
  buffers: Array<{ uri?: string }>;
}

function applyColumnMajor(m: readonly number[], p: number[]): number[] {
  return [0, 1, 2].map((r) => m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r]);
}

/** Centre of a node's mesh in glTF scene coordinates (root matrix applied). */
function sceneCentre(json: GltfJson, nodeName: string): number[] {
  const root = json.nodes[json.scenes[0].nodes[0]];
  const node = json.nodes.find((n) => n.name === nodeName);
  assert.ok(node?.mesh !== undefined, `node ${nodeName}`);
  const acc = json.accessors[json.meshes[node.mesh].primitives[0].attributes.POSITION];
  assert.ok(acc.min && acc.max);
  const centre = acc.min.map((v, k) => (v + (acc.max as number[])[k]) / 2);
  return applyColumnMajor(root.matrix as number[], centre);
}

function countWhere(data: ArrayLike<number>, pred: (v: number) => boolean): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (pred(data[i])) n++;
  return n;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-export-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('exportModels writes valid glTF/GLB in the OpenAnatomy layout with names, colours and orientation', async () => {
  await withTempDir(async (dir) => {
    // 1 mm voxels, identity direction: index i grows toward patient Left, j toward Posterior, k toward Superior.
    const labelMap = ellipsoidLabelMap({
      dims: [80, 60, 50],
      shapes: [
        { label: 1, center: [65, 30, 25], radii: [8, 8, 8] }, // far left
        { label: 2, center: [30, 50, 40], radii: [10, 6, 5] }, // posterior and superior
      ],
    });
    const segments = [
      { label: 1, name: 'left ball', color: [1, 0, 0] as [number, number, number] },
      { label: 2, name: 'back blob', color: [0, 0.5, 1] as [number, number, number], opacity: 0.4 },
      { label: 9, name: 'absent', color: [0, 1, 0] as [number, number, number] },
    ];
    const progress: number[] = [];
    const result = await exportModels({
      labelMap,
      segments,
      outDir: dir,
      name: 'case1',
      reduction: 0.5,
      onProgress: (f) => void progress.push(f),
    });

    assert.deepEqual((await readdir(dir)).sort(), [
      'case1.3mf',
      'case1.glb',
      'case1.gltf',
      'case1_segments.json',
      'case1_stl.zip',
    ]);
    assert.deepEqual(
      result.segments.map((s) => s.name),
      ['left ball', 'back blob'],
      'empty labels are left out',
    );
    assert.equal(progress.at(-1), 1);
    assert.ok(
      progress.every((p, i) => i === 0 || p >= progress[i - 1]),
      'progress never goes back',
    );

    const gltfBytes = new Uint8Array(await readFile(join(dir, 'case1.gltf')));
    const glbBytes = new Uint8Array(await readFile(join(dir, 'case1.glb')));
    const r1 = await validateGltf(gltfBytes, 'gltf');
    assert.equal(r1.issues.numErrors, 0, errorLines(r1));
    const r2 = await validateGltf(glbBytes, 'glb');
    assert.equal(r2.issues.numErrors, 0, errorLines(r2));

    const json = JSON.parse(new TextDecoder().decode(gltfBytes)) as GltfJson;
    assert.ok(
      json.buffers.every((b) => b.uri?.startsWith('data:application/octet-stream;base64,')),
      'buffers embedded',
    );
    assert.equal(json.scenes[0].nodes.length, 1);
    const root = json.nodes[json.scenes[0].nodes[0]];
    assert.equal(root.name, 'case1_Models');
    assert.deepEqual(root.matrix, [...LPS_MM_TO_GLTF]);
    const children = (root.children ?? []).map((c) => json.nodes[c]);
    assert.deepEqual(
      children.map((c) => c.name),
      ['left ball', 'back blob'],
    );
    for (const child of children) assert.equal(json.meshes[child.mesh as number].name, child.name);

    const material = (name: string) =>
      json.materials[json.meshes[children.find((c) => c.name === name)?.mesh as number].primitives[0].material];
    assert.deepEqual(material('left ball').pbrMetallicRoughness.baseColorFactor, [1, 0, 0, 1]);
    assert.equal(material('left ball').alphaMode, undefined);
    assert.deepEqual(material('back blob').pbrMetallicRoughness.baseColorFactor, [0, 0.5, 1, 0.4]);
    assert.equal(material('back blob').alphaMode, 'BLEND');
    // Viewers that list materials (model-viewer, Blender) show the structure's name, not "Material 1".
    for (const child of children) assert.equal(material(child.name).name, child.name);

    // glTF: +x = patient left, +y = superior (up), +z = anterior. Metres.
    const ball = sceneCentre(json, 'left ball');
    const blob = sceneCentre(json, 'back blob');
    assert.ok(Math.abs(ball[0] - 0.065) < 0.002, `left ball x ${ball[0]}`);
    assert.ok(ball[0] > blob[0], 'left is +x');
    assert.ok(blob[1] > ball[1], 'superior is +y');
    assert.ok(Math.abs(blob[1] - 0.04) < 0.002, `blob y ${blob[1]}`);
    assert.ok(blob[2] < ball[2], 'posterior is -z');
    assert.ok(Math.abs(blob[2] + 0.05) < 0.002, `blob z ${blob[2]}`);

    const sidecar = JSON.parse(await readFile(join(dir, 'case1_segments.json'), 'utf8')) as {
      segments: SegmentStats[];
    };
    assert.deepEqual(sidecar.segments, result.segments);
    const ballStats = result.segments[0];
    const expectedVoxels = countWhere(labelMap.data, (v) => v === 1);
    assert.equal(ballStats.voxels, expectedVoxels);
    assert.ok(Math.abs(ballStats.volumeMl - expectedVoxels / 1000) < 1e-6);
    assert.ok(Math.abs(ballStats.meshVolumeMl - ballStats.volumeMl) / ballStats.volumeMl < 0.05);
    assert.equal(ballStats.colorHex, '#ff0000');
    assert.ok(
      Math.abs(ballStats.bounds.min[0] - 57) < 1.5 && Math.abs(ballStats.bounds.max[0] - 73) < 1.5,
      JSON.stringify(ballStats.bounds),
    );
    assert.ok(ballStats.triangles > 0);
  });
});

test('a segment with containsLabels is one closed outer surface around the labels it encloses', async () => {
  await withTempDir(async (dir) => {
    const labelMap = ellipsoidLabelMap({
      dims: [50, 50, 50],
      shapes: [
        { label: 1, center: [24.5, 24.5, 24.5], radii: [20, 20, 20] },
        { label: 2, center: [24.5, 24.5, 24.5], radii: [8, 8, 8] },
      ],
    });
    const { segments } = await exportModels({
      labelMap,
      segments: [
        { label: 1, name: 'body', color: [0.7, 0.5, 0.4], opacity: 0.3, containsLabels: [2] },
        { label: 2, name: 'core', color: [1, 1, 1] },
      ],
      outDir: dir,
      name: 'nested',
      reduction: 0.8,
    });
    const body = segments[0];
    const sphere = ((4 / 3) * Math.PI * 20 ** 3) / 1000;
    // Without the enclosed label the body would be a shell: its mesh volume would miss the core.
    assert.ok(Math.abs(body.meshVolumeMl - sphere) / sphere < 0.04, `body ${body.meshVolumeMl} mL vs ${sphere} mL`);
    assert.equal(
      body.voxels,
      countWhere(labelMap.data, (v) => v > 0),
    );
  });
});

test('an empty segmentation is refused with a clear error and writes nothing', async () => {
  await withTempDir(async (dir) => {
    const labelMap = ellipsoidLabelMap({ dims: [10, 10, 10], shapes: [] });
    await assert.rejects(
      exportModels({
        labelMap,
        segments: [{ label: 1, name: 'x', color: [1, 1, 1] }],
        outDir: dir,
        name: 'e',
        reduction: 0.9,
      }),
      EmptySegmentationError,
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

/** Label 1 a small ball in a corner, label 2 a big one: the small one is meshed, and its files begun, first. */
function smallThenBig(dims: [number, number, number]): ReturnType<typeof ellipsoidLabelMap> {
  const [x, y, z] = dims;
  return ellipsoidLabelMap({
    dims,
    shapes: [
      { label: 1, center: [10, 10, 10], radii: [4, 4, 4] },
      { label: 2, center: [x / 2, y / 2, z / 2], radii: [x / 2 - 5, y / 2 - 5, z / 2 - 5] },
    ],
  });
}

function exportSmallThenBig(
  dir: string,
  labelMap: ReturnType<typeof ellipsoidLabelMap>,
  options: Pick<ExportModelsOptions, 'threads' | 'onProgress'>,
): Promise<unknown> {
  return exportModels({
    labelMap,
    segments: [
      { label: 1, name: 'small', color: [1, 0, 0] },
      { label: 2, name: 'big', color: [0, 0, 1] },
    ],
    outDir: dir,
    name: 'scan',
    reduction: 0.5,
    ...options,
  });
}

test('a print file that cannot be written fails the export with its error, and leaves no temporary file', async () => {
  await withTempDir(async (dir) => {
    // A folder where the 3MF goes: its temporary file is written, then cannot be renamed into place.
    await mkdir(join(dir, 'scan.3mf'));
    for (const threads of [1, 2]) {
      await assert.rejects(
        exportSmallThenBig(dir, smallThenBig([40, 40, 30]), { threads }),
        (err: NodeJS.ErrnoException) => err.code === 'EISDIR',
      );
      assert.deepEqual(
        (await readdir(dir)).filter((f) => f.includes('.tmp-') || f.endsWith('_stl.zip')),
        [],
        `${threads} thread(s)`,
      );
    }
  });
  // A file failing on the first structure while the second is still being meshed: the error is the
  // export's, not an unhandled rejection that would end the process.
  await withTempDir(async (dir) => {
    const labelMap = smallThenBig([120, 120, 100]);
    labelMap.origin = [Number.NaN, 0, 0];
    await assert.rejects(exportSmallThenBig(dir, labelMap, { threads: 2 }), /a vertex coordinate is NaN/);
    // The glTF pair and the JSON are written (the job discards its staged folder); no print file is.
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.tmp-') || f.endsWith('.3mf') || f.endsWith('_stl.zip')),
      [],
    );
  });
});

test('an export whose progress cannot be recorded fails with that error and leaves no file behind', async () => {
  await withTempDir(async (dir) => {
    for (const threads of [1, 2]) {
      const onProgress = (_f: number, status: string): void => {
        if (status.startsWith('meshed')) throw new Error('the database is gone');
      };
      await assert.rejects(
        exportSmallThenBig(dir, smallThenBig([80, 80, 60]), { threads, onProgress }),
        /the database is gone/,
      );
      assert.deepEqual(await readdir(dir), [], `${threads} thread(s)`);
    }
  });
});

test('glTF and GLB carry the same buffer, and a structure name cannot clash with the data URI', async () => {
  const { writeGltfFiles } = await import('./gltf.ts');
  const dir = await mkdtemp(join(tmpdir(), 'gltf-'));
  try {
    const positions = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
    const normals = new Float32Array([0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
    const indices = new Uint32Array([0, 2, 1, 0, 1, 3, 0, 3, 2, 1, 2, 3]);
    const paths = { gltf: join(dir, 't.gltf'), glb: join(dir, 't.glb') };
    await writeGltfFiles(
      't',
      [{ name: '@@BUFFER@@ \u00e9\u4e2d', color: [1, 0, 0], opacity: 0.5, positions, normals, indices }],
      paths,
    );
    assert.deepEqual((await readdir(dir)).sort(), ['t.glb', 't.gltf'], 'no temporary files left');
    const files = { gltf: await readFile(paths.gltf), glb: await readFile(paths.glb) };
    for (const [bytes, format] of [
      [files.gltf, 'gltf'],
      [files.glb, 'glb'],
    ] as const) {
      const report = await validateGltf(bytes, format);
      assert.equal(report.issues.numErrors, 0, errorLines(report));
    }
    const json = JSON.parse(new TextDecoder().decode(files.gltf)) as GltfJson;
    const fromUri = Buffer.from((json.buffers[0].uri ?? '').split(',')[1], 'base64');
    const binLength = new DataView(files.glb.buffer, files.glb.byteOffset).getUint32(12, true);
    const bin = files.glb.subarray(20 + binLength + 8);
    assert.deepEqual(new Uint8Array(fromUri), new Uint8Array(bin));
    assert.equal(json.nodes[1].name, '@@BUFFER@@ \u00e9\u4e2d');

    // A buffer of several megabytes, written in many pieces.
    const n = 200_001;
    const big = {
      positions: new Float32Array(n * 3),
      normals: new Float32Array(n * 3),
      indices: new Uint32Array(n * 3),
    };
    for (let i = 0; i < n * 3; i++) {
      big.positions[i] = Math.sin(i) * 100;
      big.normals[i] = i % 3 === 2 ? 1 : 0;
      big.indices[i] = (i * 7919) % n;
    }
    // A second structure with 16-bit indices pads its 6 index bytes to 8: the total is no multiple of 3.
    const small = {
      positions: positions.slice(0, 9),
      normals: normals.slice(0, 9),
      indices: new Uint32Array([0, 1, 2]),
    };
    await writeGltfFiles(
      'big',
      [
        { name: 'big', color: [0, 1, 0], opacity: 1, ...big },
        { name: 'small', color: [0, 0, 1], opacity: 1, ...small },
      ],
      { gltf: join(dir, 'big.gltf'), glb: join(dir, 'big.glb') },
    );
    const bigJson = JSON.parse(await readFile(join(dir, 'big.gltf'), 'utf8')) as GltfJson;
    const bigGlb = await readFile(join(dir, 'big.glb'));
    const bigBin = bigGlb.subarray(20 + bigGlb.readUInt32LE(12) + 8);
    assert.ok(bigBin.length > 4_000_000 && bigBin.length % 3 !== 0);
    assert.deepEqual(Buffer.from((bigJson.buffers[0].uri ?? '').split(',')[1], 'base64'), bigBin);
    assert.equal(bigGlb.readUInt32LE(8), bigGlb.length, 'GLB header gives the file length');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

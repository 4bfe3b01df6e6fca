import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { read3mf, readStlZip } from '../../test/support/printFiles.ts';
import { exportModels } from './exportModels.ts';
import { isPrintable } from './manifold.ts';
import {
  stlFileNames,
  write3mf,
  writePrintFiles,
  writeStlZip,
  type PrintModel,
  type PrintSurface,
} from './printFiles.ts';
import { ellipsoidLabelMap } from './testShapes.ts';

for (const threads of [1, 2]) {
  const where = threads === 1 ? 'meshed in this thread' : 'meshed in worker threads';
  test(`the 3MF and the STL zip hold one named, coloured, closed 2-manifold part per structure, in millimetres (${where})`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'print-files-'));
    try {
      // Two balls touching at a corner and a third apart: the touching pair must still print as clean parts.
      const labelMap = ellipsoidLabelMap({
        dims: [60, 50, 40],
        spacing: [0.8, 0.8, 2],
        origin: [-20, 30, -100],
        direction: [-1, 0, 0, 0, 1, 0, 0, 0, 1],
        shapes: [
          { label: 1, center: [20, 25, 20], radii: [10, 9, 14] },
          { label: 2, center: [45, 25, 20], radii: [6, 6, 10] },
          { label: 3, center: [10, 10, 5], radii: [3, 3, 6] },
        ],
      });
      // Voxels of labels 1 and 2 touching only along an edge and at a corner.
      const at = (x: number, y: number, z: number): number => (z * 50 + y) * 60 + x;
      labelMap.data[at(30, 40, 30)] = 1;
      labelMap.data[at(31, 41, 30)] = 1;
      labelMap.data[at(32, 42, 31)] = 1;
      const segments = [
        { label: 1, name: 'liver', color: [0.86, 0.55, 0.48] as [number, number, number] },
        { label: 2, name: 'L1/L2 <disc> & "more"', color: [0.2, 0.4, 1] as [number, number, number], opacity: 0.5 },
        { label: 3, name: 'Liver', color: [1, 1, 1] as [number, number, number] },
      ];
      const result = await exportModels({ labelMap, segments, outDir: dir, name: 'scan', reduction: 0.5, threads });
      assert.ok((await readdir(dir)).includes('scan.3mf') && (await readdir(dir)).includes('scan_stl.zip'));
      assert.ok(
        result.files.some((f) => f.endsWith('scan.3mf')) && result.files.some((f) => f.endsWith('scan_stl.zip')),
      );

      const model = await read3mf(join(dir, 'scan.3mf'));
      assert.equal(model.unit, 'millimeter');
      assert.equal(model.metadata['ag:coordinateSystem'], 'LPS');
      assert.match(model.metadata.Description, /LPS millimetres/);
      assert.equal(model.metadata.Title, 'scan');
      assert.match(model.contentTypes, /application\/vnd\.ms-package\.3dmanufacturing-3dmodel\+xml/);
      assert.match(model.relationships, /Target="\/3D\/3dmodel\.model"/);
      assert.deepEqual(
        model.objects.map((o) => o.name),
        segments.map((s) => s.name),
      );
      assert.deepEqual(
        model.build,
        model.objects.map((o) => o.id),
        'every object is placed on the build',
      );
      assert.deepEqual(
        model.objects.map((o) => o.color),
        ['#DB8C7A', '#3366FF80', '#FFFFFF'],
        'colours as in _segments.json, with the opacity',
      );
      model.objects.forEach((o, i) => {
        assert.equal(o.triangles, result.segments[i].triangles, `${o.name}: the glTF's triangles`);
        assert.ok(isPrintable(o.manifold), `${o.name}: ${JSON.stringify(o.manifold)}`);
        // The coordinates as written (a tenth of a micrometre) enclose what the glTF's do.
        assert.ok(Math.abs(o.volumeMl - result.segments[i].meshVolumeMl) < 0.002, `${o.name}: ${o.volumeMl} mL`);
      });

      const stls = await readStlZip(join(dir, 'scan_stl.zip'));
      assert.deepEqual(
        stls.map((s) => s.name),
        ['liver.stl', 'L1_L2 _disc_ & _more_.stl', 'Liver (2).stl'],
      );
      stls.forEach((s, i) => {
        assert.equal(s.triangles, result.segments[i].triangles, `${s.name}: the glTF's triangles`);
        assert.ok(isPrintable(s.manifold), `${s.name}: ${JSON.stringify(s.manifold)}`);
        assert.ok(Math.abs(s.volumeMl - result.segments[i].meshVolumeMl) < 0.002, `${s.name}: ${s.volumeMl} mL`);
        assert.match(s.header, /millimetres, patient LPS/);
        assert.doesNotMatch(s.header, /^solid/);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('STL names inside the zip are safe file names and never clash', () => {
  assert.deepEqual(stlFileNames(['a', 'A', 'a', '../x', '', 'c:\\d']), [
    'a.stl',
    'A (2).stl',
    'a (3).stl',
    '.._x.stl',
    'structure.stl',
    'c__d.stl',
  ]);
});

test('a part that cannot be made fails its file: the error comes back and no file is left', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'print-files-'));
  try {
    const triangle = { positions: Float32Array.of(0, 0, 0, 1, 0, 0, 0, 1, 0), indices: Uint32Array.of(0, 1, 2) };
    const failing = (): PrintModel[] => [
      { name: 'whole', color: [1, 0, 0], opacity: 1, surface: triangle },
      { name: 'broken', color: [0, 1, 0], opacity: 1, surface: Promise.reject(new Error('no surface')) },
      // Fails too, after the file has already failed: it must not end the process as unhandled.
      { name: 'late', color: [0, 0, 1], opacity: 1, surface: failsAfter(20, new Error('failed later')) },
    ];
    const outcomes = await Promise.allSettled([
      write3mf(join(dir, 'scan.3mf'), 'scan', failing()),
      writeStlZip(join(dir, 'scan_stl.zip'), failing()),
      writePrintFiles(dir, 'both', failing()),
    ]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : o.status)),
      ['no surface', 'no surface', 'no surface'],
    );
    await after(40);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the 3MF is written structure by structure as the surfaces come, not once all are made', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'print-files-'));
  try {
    // A first part big enough that the 3MF on disk passes 2 MB before the last surface comes.
    const big = randomSurface(100_000, 11);
    let meshLast!: (surface: PrintSurface) => void;
    const last = new Promise<PrintSurface>((resolve) => (meshLast = resolve));
    const writing = writePrintFiles(dir, 'scan', [
      { name: 'first', color: [1, 0, 0], opacity: 1, surface: big },
      { name: 'last', color: [0, 0, 1], opacity: 1, surface: last },
    ]);
    const threeMfWritten = async (): Promise<number> => {
      const tmp = (await readdir(dir)).find((f) => f.startsWith('scan.3mf.tmp-'));
      return tmp ? (await stat(join(dir, tmp))).size : 0;
    };
    const deadline = Date.now() + 10_000;
    while ((await threeMfWritten()) < 2 << 20 && Date.now() < deadline) await after(10);
    assert.ok(
      (await threeMfWritten()) >= 2 << 20,
      'the first part was written while the last surface was still missing',
    );
    assert.deepEqual(await readdir(dir).then((f) => f.filter((n) => !n.includes('.tmp-'))), []);

    const small = randomSurface(1000, 12);
    meshLast(small);
    assert.deepEqual(await writing, [join(dir, 'scan.3mf'), join(dir, 'scan_stl.zip')]);
    const model = await read3mf(join(dir, 'scan.3mf'));
    assert.deepEqual(
      model.objects.map((o) => [o.name, o.vertices, o.triangles]),
      [
        ['first', big.positions.length / 3, big.indices.length / 3],
        ['last', small.positions.length / 3, small.indices.length / 3],
      ],
    );
    const stls = await readStlZip(join(dir, 'scan_stl.zip'));
    assert.deepEqual(
      stls.map((s) => [s.name, s.triangles]),
      [
        ['first.stl', big.indices.length / 3],
        ['last.stl', small.indices.length / 3],
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an aborted write stops at once and leaves nothing, even while it waits for a surface', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'print-files-'));
  try {
    const controller = new AbortController();
    const writing = writePrintFiles(
      dir,
      'scan',
      [
        { name: 'first', color: [1, 0, 0], opacity: 1, surface: randomSurface(1000, 13) },
        { name: 'never made', color: [0, 0, 1], opacity: 1, surface: new Promise<PrintSurface>(() => undefined) },
      ],
      controller.signal,
    );
    await after(50);
    controller.abort(new Error('cancelled by user'));
    await assert.rejects(writing, /cancelled by user/);
    assert.deepEqual(await readdir(dir), []);
    await assert.rejects(writePrintFiles(dir, 'again', [], controller.signal), /cancelled by user/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

function after(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function failsAfter(ms: number, err: Error): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(err), ms));
}

/** `count` vertices scattered over a 300 mm cube and as many triangles between them (not a closed part). */
function randomSurface(count: number, seed: number): PrintSurface {
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const positions = Float32Array.from({ length: count * 3 }, () => next() * 300 - 150);
  const indices = Uint32Array.from({ length: count * 3 }, () => Math.floor(next() * count));
  return { positions, indices };
}

test('a vertex coordinate that is not a number fails the 3MF with its value', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'print-files-'));
  try {
    for (const bad of [NaN, Infinity]) {
      const model: PrintModel = {
        name: 'part',
        color: [1, 0, 0],
        opacity: 1,
        surface: { positions: Float32Array.of(0, 0, 0, 1, 0, 0, 0, 1, bad), indices: Uint32Array.of(0, 1, 2) },
      };
      await assert.rejects(write3mf(join(dir, 'scan.3mf'), 'scan', [model]), {
        message: `a vertex coordinate is ${bad}`,
      });
    }
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

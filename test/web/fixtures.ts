import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Document, NodeIO } from '@gltf-transform/core';
import type { Queryable } from '../../server/db/database.ts';
import type { AppContext } from '../../server/app/context.ts';
import { createApp } from '../../server/http/app.ts';
import { buildWeb } from '../../scripts/build-web.ts';

/** Rows and files for web tests, written the way the pipeline writes them (migration 0003). */
export interface InsertedResult {
  id: string;
  files: Record<string, Buffer>;
}

export async function insertResult(
  db: Queryable,
  dataDir: string,
  options: {
    name: string;
    files: Record<string, Buffer>;
    segments?: unknown[];
    engine?: string;
    expiresAt?: Date | null;
    jobId?: string | null;
  },
): Promise<InsertedResult> {
  const files = Object.entries(options.files).map(([name, data]) => ({ name, size: data.length }));
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO results (id, job_id, name, engine, source, expires_at, segments, files)
     VALUES ($7, $1, $2, $3, '{"kind":"test"}'::jsonb, $4, $5::jsonb, $6::jsonb) RETURNING id`,
    [
      options.jobId ?? null,
      options.name,
      options.engine ?? 'builtin',
      options.expiresAt === undefined ? new Date(Date.now() + 30 * 86_400_000) : options.expiresAt,
      JSON.stringify(options.segments ?? []),
      JSON.stringify(files),
      randomUUID(),
    ],
  );
  const id = rows[0].id;
  const dir = join(dataDir, 'results', id);
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(options.files)) await writeFile(join(dir, name), data);
  return { id, files: options.files };
}

export async function insertJob(
  db: Queryable,
  options: {
    state: string;
    progress?: number;
    status?: string | null;
    error?: string | null;
    engine?: string | null;
    seriesDescription?: string;
    startedAgoMs?: number;
  },
): Promise<string> {
  const started = options.startedAgoMs !== undefined ? new Date(Date.now() - options.startedAgoMs) : null;
  const finished = ['succeeded', 'failed', 'cancelled'].includes(options.state) ? new Date() : null;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO jobs (kind, payload, state, progress, status, last_error, engine, started_at, finished_at)
     VALUES ('process', $1::jsonb, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [
      JSON.stringify({
        seriesDescription: options.seriesDescription ?? 'Test series',
        name: options.seriesDescription ?? 'Test series',
      }),
      options.state,
      options.progress ?? 0,
      options.status ?? null,
      options.error ?? null,
      options.engine ?? null,
      started,
      finished,
    ],
  );
  return rows[0].id;
}

/**
 * A small but real GLB: two boxes, nodes and meshes named after the structure and materials unnamed,
 * as many exporters write them: the preview must take its names from the nodes.
 */
export async function sampleGlb(): Promise<Buffer> {
  const doc = new Document();
  const buffer = doc.createBuffer();
  const scene = doc.createScene('anatomy');
  const box = (name: string, offset: number, color: [number, number, number, number]) => {
    const p: number[] = [];
    const corners = [
      [0, 0, 0],
      [1, 0, 0],
      [1, 1, 0],
      [0, 1, 0],
      [0, 0, 1],
      [1, 0, 1],
      [1, 1, 1],
      [0, 1, 1],
    ].map(([x, y, z]) => [x * 40 + offset, y * 40, z * 40]);
    const faces = [
      [0, 2, 1],
      [0, 3, 2],
      [4, 5, 6],
      [4, 6, 7],
      [0, 1, 5],
      [0, 5, 4],
      [2, 3, 7],
      [2, 7, 6],
      [1, 2, 6],
      [1, 6, 5],
      [0, 4, 7],
      [0, 7, 3],
    ];
    for (const f of faces) for (const i of f) p.push(...corners[i]);
    const position = doc.createAccessor().setType('VEC3').setArray(new Float32Array(p)).setBuffer(buffer);
    const material = doc.createMaterial().setBaseColorFactor(color).setDoubleSided(true);
    const prim = doc.createPrimitive().setAttribute('POSITION', position).setMaterial(material);
    scene.addChild(doc.createNode(name).setMesh(doc.createMesh(name).addPrimitive(prim)));
  };
  box('liver', 0, [0.87, 0.51, 0.38, 1]);
  box('spleen', 60, [0.62, 0.36, 0.67, 1]);
  return Buffer.from(await new NodeIO().writeBinary(doc));
}

export async function listen(t: TestContext, deps: AppContext): Promise<{ base: string; server: Server }> {
  const server = createServer(createApp(deps).callback());
  await new Promise<void>((resolve) => server.listen(0, resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/**
 * The pages built for one test alone (always from the current sources): browser tests run side by side, and a
 * shared dist/web would be emptied by one test's build while another's page loads from it. Served as `webDist`.
 */
export async function ownWebBuild(t: TestContext, options: { minify?: boolean } = {}): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'ag-web-'));
  t.after(() => rm(outDir, { recursive: true, force: true }));
  await buildWeb({ outDir, ...options });
  return outDir;
}

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort } from 'node:worker_threads';
import { IDENTITY_DIRECTION, type LabelArray } from '../volume/volume.ts';
import { meshSegment, type MeshedSegment, type MeshGeometry, type MeshJob, type MeshSettings } from './meshSegment.ts';

/**
 * Worker thread of meshPool.ts. On start it meshes a small ball once, then says it is ready; after
 * that it meshes one structure per message, sending the mesh back with its buffers transferred.
 * The label map comes with each request in shared memory (not copied).
 *
 * Why the warm-up ball: V8 runs a WebAssembly function's first call in its baseline compiler and
 * only the next call in optimised code (there is no on-stack replacement for WebAssembly), and
 * meshoptimizer's simplifier is one such function. Decimating a ball of about 1,000 triangles takes
 * milliseconds and moves the body's first decimation onto optimised code: 1.50 s -> 1.25 s in a
 * fresh thread on the benchmark CT's body surface.
 */

export type MeshWorkerRequest =
  | { kind: 'mesh'; id: number; data: LabelArray; geometry: MeshGeometry; settings: MeshSettings; job: MeshJob }
  /** The call is over and the thread waits for the next one. */
  | { kind: 'rest' };

export type MeshWorkerReply =
  | { kind: 'ready' }
  | { kind: 'mesh'; id: number; ok: true; result: MeshedSegment }
  | { kind: 'mesh'; id: number; ok: false; message: string };

function message(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** A ball of radius 5 voxels in a 14^3 grid, meshed through the same steps as a structure. */
async function warmUp(): Promise<void> {
  const n = 14;
  const data = new Uint8Array(n * n * n);
  let voxels = 0;
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const d = (x - 6.5) ** 2 + (y - 6.5) ** 2 + (z - 6.5) ** 2;
        if (d > 25) continue;
        data[(z * n + y) * n + x] = 1;
        voxels++;
      }
    }
  }
  const geometry: MeshGeometry = {
    dims: [n, n, n],
    spacing: [1, 1, 1],
    origin: [0, 0, 0],
    direction: [...IDENTITY_DIRECTION],
  };
  await meshSegment(
    data,
    geometry,
    { labels: [1], box: { min: [1, 1, 1], max: [12, 12, 12] }, voxels },
    { reduction: 0.5, smoothingIterations: 4 },
  );
}

/**
 * A full garbage collection, for a thread going back to wait. A waiting thread allocates nothing,
 * so no collection ever comes, and what its last structures left behind (surface, smoothing and
 * decimation temporaries, tens of MB each) stayed resident until its next job. Workers cannot be
 * started with --expose-gc, so the flag is set just while the function is taken from a new
 * context; where that gives none, nothing is collected.
 */
function fullCollection(): () => void {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : () => undefined;
  } catch {
    return () => undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

const port = parentPort;
if (port) {
  const collect = fullCollection();
  warmUp().then(
    () => port.postMessage({ kind: 'ready' } satisfies MeshWorkerReply),
    // A failed warm-up is no reason to refuse work: the first job then runs unwarmed, or fails with its own error.
    () => port.postMessage({ kind: 'ready' } satisfies MeshWorkerReply),
  );
  port.on('message', (request: MeshWorkerRequest) => {
    if (request.kind === 'rest') {
      collect();
      return;
    }
    meshSegment(request.data, request.geometry, request.job, request.settings).then(
      (result) => {
        const buffers = new Set<ArrayBuffer>([
          result.positions.buffer,
          result.normals.buffer,
          result.indices.buffer,
        ] as ArrayBuffer[]);
        port.postMessage({ kind: 'mesh', id: request.id, ok: true, result } satisfies MeshWorkerReply, [...buffers]);
      },
      (err: unknown) => {
        port.postMessage({ kind: 'mesh', id: request.id, ok: false, message: message(err) } satisfies MeshWorkerReply);
      },
    );
  });
}

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LabelArray } from '../volume/volume.ts';
import { meshSegment, type MeshedSegment, type MeshGeometry, type MeshJob, type MeshSettings } from './meshSegment.ts';
import type { MeshWorkerData, MeshWorkerReply, MeshWorkerRequest } from './meshWorker.ts';

/**
 * Meshes several structures at once, one worker thread per core. Each structure's surface,
 * smoothing and decimation are independent of the others', so they are spread over threads that
 * read one shared label map. The benchmark CT's meshing is 5.1 s of CPU (median of 3 runs) over
 * body 1.29 M triangles, lungs 0.78 M and bone 0.75 M: the biggest job starts first, so one thread
 * does the body while the other does lungs then bone, about half each.
 *
 * Workers are started per call and ended when it returns: meshoptimizer's WebAssembly heap grows to
 * fit the largest mesh and never shrinks, so a long-lived worker would keep a few hundred MB.
 * Starting one costs about 0.3 s, against seconds of meshing. When workers cannot start, the same
 * work runs in this thread.
 */

export interface MeshAllOptions {
  /**
   * Most threads to use; default: the cores available, at most 4, or 1 (this thread) for small
   * label maps. 1 meshes in this thread.
   */
  threads?: number;
  signal?: AbortSignal;
  /** Called as each structure is finished (in finishing order), with its index in `jobs`. */
  onDone?: (index: number, result: MeshedSegment) => void | Promise<void>;
}

export interface MeshAllResult {
  meshes: MeshedSegment[];
  /** Threads used: 1 when meshed in this thread. */
  threads: number;
}

/** Work of a job, to start the biggest first: surface nets visits every cell of its box. */
function weight(job: MeshJob): number {
  const { min, max } = job.box;
  return (max[0] - min[0] + 3) * (max[1] - min[1] + 3) * (max[2] - min[2] + 3);
}

export function defaultMeshThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Below this many grid cells in all (a 250^3 box) the default is this thread: starting the workers
 * (0.3 s) would cost about as much as the meshing saves.
 */
const MIN_CELLS_FOR_THREADS = 16e6;

export async function meshAll(data: LabelArray, geometry: MeshGeometry, jobs: MeshJob[], settings: MeshSettings, options: MeshAllOptions = {}): Promise<MeshAllResult> {
  const cells = jobs.reduce((sum, job) => sum + weight(job), 0);
  const threads = Math.min(jobs.length, options.threads ?? (cells < MIN_CELLS_FOR_THREADS ? 1 : defaultMeshThreads()));
  if (threads > 1) {
    const shared = await inWorkers(data, geometry, jobs, settings, threads, options);
    if (shared) return { meshes: shared, threads };
  }
  const meshes: MeshedSegment[] = [];
  for (let i = 0; i < jobs.length; i++) {
    options.signal?.throwIfAborted();
    meshes.push(await meshSegment(data, geometry, jobs[i], settings, options.signal));
    await options.onDone?.(i, meshes[i]);
  }
  return { meshes, threads: 1 };
}

/** The label map in shared memory: as it is when the engine made it so, else copied once. */
function sharedCopy(data: LabelArray): LabelArray {
  if (data.buffer instanceof SharedArrayBuffer) return data;
  const out = data instanceof Uint8Array ? new Uint8Array(new SharedArrayBuffer(data.length)) : new Uint16Array(new SharedArrayBuffer(data.length * 2));
  out.set(data);
  return out;
}

class WorkerStartError extends Error {}

let bundled: Promise<string | null> | undefined;

/**
 * meshWorker.ts and its imports as one CommonJS script, built once per process with esbuild (which
 * tsx, a dependency, brings). A worker started from it is up in about 0.3 s on a busy 2-core
 * machine; a worker that loads the .ts files through tsx took 1.1-1.3 s (Node 20 does not apply
 * the parent's `--import tsx` to workers, and registering tsx in each worker costs 0.5 s by
 * itself). Null when esbuild is not there, e.g. when this file was already compiled to JavaScript.
 */
function workerScript(): Promise<string | null> {
  bundled ??= bundle();
  return bundled;
}

async function bundle(): Promise<string | null> {
  if (!import.meta.url.endsWith('.ts')) return null;
  try {
    const esbuild = await import('esbuild');
    const out = await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./meshWorker.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: `node${process.versions.node.split('.')[0]}`,
      write: false,
      logLevel: 'silent',
    });
    return out.outputFiles[0]?.text ?? null;
  } catch {
    return null;
  }
}

async function startWorker(workerData: MeshWorkerData): Promise<Worker> {
  const script = await workerScript();
  if (script) return new Worker(script, { eval: true, workerData });
  return new Worker(new URL(import.meta.url.endsWith('.ts') ? './meshWorker.ts' : './meshWorker.js', import.meta.url), { workerData });
}

/** Resolves to the meshes, or to null when the workers could not start (then nothing was meshed). */
async function inWorkers(data: LabelArray, geometry: MeshGeometry, jobs: MeshJob[], settings: MeshSettings, threads: number, options: MeshAllOptions): Promise<MeshedSegment[] | null> {
  const { signal, onDone } = options;
  signal?.throwIfAborted();
  const order = jobs.map((_, i) => i).sort((a, b) => weight(jobs[b]) - weight(jobs[a]));
  const results: Array<MeshedSegment | undefined> = new Array(jobs.length);
  const workerData: MeshWorkerData = { data: sharedCopy(data), geometry, settings };
  const workers: Worker[] = [];
  let next = 0;
  let finished = 0;
  let anyResult = false;
  try {
    const starting: Array<Promise<Worker>> = [];
    for (let w = 0; w < threads; w++) starting.push(startWorker(workerData));
    for (const started of await Promise.allSettled(starting)) {
      if (started.status === 'fulfilled') workers.push(started.value);
      else throw new WorkerStartError(String(started.reason), { cause: started.reason });
    }
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const onAbort = (): void => fail(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      const give = (worker: Worker): void => {
        if (next >= order.length) return;
        const id = order[next++];
        worker.postMessage({ id, job: jobs[id] } satisfies MeshWorkerRequest);
      };
      for (const worker of workers) {
        worker.on('message', (reply: MeshWorkerReply) => {
          if (settled) return;
          if (!reply.ok) {
            fail(new Error(`meshing failed in a worker thread: ${reply.message}`));
            return;
          }
          anyResult = true;
          results[reply.id] = reply.result;
          finished++;
          Promise.resolve(onDone?.(reply.id, reply.result)).then(() => {
            if (finished === jobs.length) done();
            else give(worker);
          }, fail);
        });
        worker.on('error', (err) => fail(anyResult ? err : new WorkerStartError(err.message, { cause: err })));
        worker.on('exit', (code) => {
          if (!settled) fail(anyResult ? new Error(`mesh worker exited with code ${code}`) : new WorkerStartError(`mesh worker exited with code ${code}`));
        });
        give(worker);
      }
    });
  } catch (err) {
    if (err instanceof WorkerStartError && !signal?.aborted) return null;
    throw err;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results as MeshedSegment[];
}

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LabelArray } from '../volume/volume.ts';
import { meshSegment, type MeshedSegment, type MeshGeometry, type MeshJob, type MeshSettings } from './meshSegment.ts';
import type { MeshWorkerReply, MeshWorkerRequest } from './meshWorker.ts';

/**
 * Meshes several structures at once, one worker thread per core. Each structure's surface,
 * smoothing and decimation are independent of the others', so they are spread over threads that
 * read one shared label map. The benchmark CT's meshing is 5.1 s of CPU (median of 3 runs) over
 * body 1.29 M triangles, lungs 0.78 M and bone 0.75 M: the biggest job starts first, so one thread
 * does the body while the other does lungs then bone, about half each.
 *
 * Threads serve one call and end with it, heaps and all: meshoptimizer's WebAssembly heap grows to
 * fit the largest mesh and never shrinks. Keeping threads for the next job was measured: it saves
 * about 0.5 s of a 4 s benchmark job (that heap's pages are faulted in once, at about 10 us each on
 * these virtual machines, and the WebAssembly is already optimised), but the threads then hold
 * about 400 MB between jobs and the next job's peak RSS reached 1 GB. What is kept instead is the
 * start-up: prepareMeshThreads starts the threads while the job segments its input, and they warm
 * up there (meshWorker.ts) on the core the segmentation leaves idle. When threads cannot start, the
 * same work runs in this thread.
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

/** Threads started by prepareMeshThreads end after this long if no job takes them. */
const UNUSED_MS = 60_000;

/** One mesh worker thread and who is listening to it. */
interface MeshThread {
  worker: Worker;
  /** Resolves when the thread has warmed up; rejects when it could not start. */
  ready: Promise<void>;
  /** The current call's handlers. */
  onReply?: (reply: Extract<MeshWorkerReply, { kind: 'mesh' }>) => void;
  onFailure?: (err: Error) => void;
}

/** Threads started ahead of a job by prepareMeshThreads. */
const waiting: MeshThread[] = [];
let unusedTimer: NodeJS.Timeout | undefined;

function startThread(): MeshThread {
  const thread = {} as MeshThread;
  thread.ready = (async () => {
    const script = await workerScript();
    const worker = script
      ? new Worker(script, { eval: true })
      : new Worker(new URL(import.meta.url.endsWith('.ts') ? './meshWorker.ts' : './meshWorker.js', import.meta.url));
    thread.worker = worker;
    // A waiting thread does not keep the process alive; a working one is referenced again.
    worker.unref();
    await new Promise<void>((resolve, reject) => {
      let up = false;
      worker.on('message', (reply: MeshWorkerReply) => {
        if (reply.kind === 'ready') {
          up = true;
          resolve();
        } else thread.onReply?.(reply);
      });
      const fail = (err: Error): void => {
        const at = waiting.indexOf(thread);
        if (at >= 0) waiting.splice(at, 1);
        if (!up) reject(new WorkerStartError(err.message, { cause: err }));
        else thread.onFailure?.(err);
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`mesh worker exited with code ${code}`)));
    });
  })();
  // Nobody may be waiting on it yet (prepareMeshThreads): a failed start is seen when the thread is taken.
  thread.ready.catch(() => undefined);
  return thread;
}

async function endThreads(threads: MeshThread[]): Promise<void> {
  await Promise.all(threads.map(async (t) => {
    t.onReply = undefined;
    t.onFailure = undefined;
    await t.ready.catch(() => undefined);
    await t.worker?.terminate();
  }));
}

/**
 * Starts mesh threads now, so that they are up and warm when the label map of a volume of `voxels`
 * voxels is ready to mesh (a job calls this once it has read its input). Returns at once; does
 * nothing when threads are already waiting, or when such a label map would be meshed in this thread.
 */
export function prepareMeshThreads(voxels: number): void {
  if (voxels < MIN_CELLS_FOR_THREADS) return;
  while (waiting.length < defaultMeshThreads()) waiting.push(startThread());
  clearTimeout(unusedTimer);
  unusedTimer = setTimeout(() => void closeMeshThreads(), UNUSED_MS);
  unusedTimer.unref();
}

/** How many threads are started and waiting for a job. */
export function meshThreadsWaiting(): number {
  return waiting.length;
}

/** Ends the threads waiting for a job (at shutdown, or when none came). */
export async function closeMeshThreads(): Promise<void> {
  clearTimeout(unusedTimer);
  await endThreads(waiting.splice(0));
}

/** Threads for one call: waiting ones first, new ones for the rest; rejects when one cannot start. */
async function takeThreads(count: number): Promise<MeshThread[]> {
  const taken = waiting.splice(0, count);
  if (waiting.length === 0) clearTimeout(unusedTimer);
  while (taken.length < count) taken.push(startThread());
  const started = await Promise.allSettled(taken.map((t) => t.ready));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await endThreads(taken);
    throw failed.reason instanceof WorkerStartError ? failed.reason : new WorkerStartError(String(failed.reason));
  }
  for (const t of taken) t.worker.ref();
  return taken;
}

/** Resolves to the meshes, or to null when the workers could not start (then nothing was meshed). */
async function inWorkers(data: LabelArray, geometry: MeshGeometry, jobs: MeshJob[], settings: MeshSettings, count: number, options: MeshAllOptions): Promise<MeshedSegment[] | null> {
  const { signal, onDone } = options;
  signal?.throwIfAborted();
  const order = jobs.map((_, i) => i).sort((a, b) => weight(jobs[b]) - weight(jobs[a]));
  const results: Array<MeshedSegment | undefined> = new Array(jobs.length);
  const shared = sharedCopy(data);
  let threads: MeshThread[];
  try {
    threads = await takeThreads(count);
  } catch (err) {
    if (err instanceof WorkerStartError && !signal?.aborted) return null;
    throw err;
  }
  try {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let next = 0;
      let finished = 0;
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
      const give = (thread: MeshThread): void => {
        if (next >= order.length) return;
        const id = order[next++];
        thread.worker.postMessage({ id, data: shared, geometry, settings, job: jobs[id] } satisfies MeshWorkerRequest);
      };
      for (const thread of threads) {
        thread.onReply = (reply) => {
          if (settled) return;
          if (!reply.ok) {
            fail(new Error(`meshing failed in a worker thread: ${reply.message}`));
            return;
          }
          results[reply.id] = reply.result;
          finished++;
          Promise.resolve(onDone?.(reply.id, reply.result)).then(() => {
            if (finished === jobs.length) done();
            else give(thread);
          }, fail);
        };
        thread.onFailure = fail;
        give(thread);
      }
    });
  } finally {
    await endThreads(threads);
  }
  return results as MeshedSegment[];
}

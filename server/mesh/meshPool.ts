import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { giveBackSharedBuffer, takeSharedBuffer } from '../volume/sharedVoxels.ts';
import type { LabelArray } from '../volume/volume.ts';
import { meshSegment, type MeshedSegment, type MeshGeometry, type MeshJob, type MeshSettings } from './meshSegment.ts';
import type { MeshWorkerReply, MeshWorkerRequest } from './meshWorker.ts';

/**
 * Meshes several structures at once, one worker thread per core. Each structure's surface,
 * smoothing and decimation are independent of the others', so they are spread over threads that
 * read one shared label map: the biggest jobs start first, so for the benchmark CT one thread does
 * the body (1.29 M triangles) and then the lungs (0.78 M) while the other does the bone (0.96 M).
 *
 * The threads outlive one call: they wait, unreferenced, for the next job and end after IDLE_MS
 * without one. A fresh thread pays for faulting in its memory (meshoptimizer's WebAssembly heap,
 * the smoothing kernel's memory, its scratch arrays), at 3-10 us a page on these virtual machines,
 * and for meshoptimizer's first, unoptimised run; a thread that has meshed before pays none of it.
 * On the benchmark CT that is 2.8 s of meshing CPU against 4.3 s, 3.5 s a job against 4.3 s: the
 * difference between a PACS sending the series of a study, meshed one after another (the
 * benchmark's median run), and a single upload after a quiet spell (its first run). The price is
 * that memory, about 460 MB for the benchmark CT (meshoptimizer's heaps 235 MB, the smoothing
 * kernels' 75 MB, the shared label map buffer 75 MB (volume/sharedVoxels.ts), scratch arrays), held for a minute after the
 * last job. prepareMeshThreads starts threads as a job reads its input, so that even cold threads
 * are up and warmed up (meshWorker.ts) when the label map is ready. When threads cannot start, the
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

export async function meshAll(
  data: LabelArray,
  geometry: MeshGeometry,
  jobs: MeshJob[],
  settings: MeshSettings,
  options: MeshAllOptions = {},
): Promise<MeshAllResult> {
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

/**
 * The label map in shared memory (sharedVoxels.ts says why), and a function giving back the buffer
 * it was copied into. A label map already in shared memory is read in place.
 */
function shareLabels(data: LabelArray): { shared: LabelArray; giveBack: () => void } {
  if (data.buffer instanceof SharedArrayBuffer) return { shared: data, giveBack: () => undefined };
  const buffer = takeSharedBuffer(data.byteLength) ?? new SharedArrayBuffer(data.byteLength);
  const shared =
    data instanceof Uint8Array ? new Uint8Array(buffer, 0, data.length) : new Uint16Array(buffer, 0, data.length);
  shared.set(data);
  return { shared, giveBack: () => void giveBackSharedBuffer(buffer) };
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

/** Threads waiting for a job end after this long (see the top of this file). */
const IDLE_MS = 60_000;

/** One mesh worker thread and who is listening to it. */
interface MeshThread {
  worker: Worker;
  /** Resolves when the thread has warmed up; rejects when it could not start. */
  ready: Promise<void>;
  /** The current call's handlers. */
  onReply?: (reply: Extract<MeshWorkerReply, { kind: 'mesh' }>) => void;
  onFailure?: (err: Error) => void;
  /** Set when the thread failed or exited: it is never given work again. */
  gone?: boolean;
  /** Weight of the biggest job it has meshed (see inWorkers). */
  biggest: number;
}

/** Threads waiting for a job: started ahead of one, or done with the last; the most recently used last. */
const waiting: MeshThread[] = [];
let idleTimer: NodeJS.Timeout | undefined;

function restartIdleTimer(): void {
  clearTimeout(idleTimer);
  if (waiting.length === 0) return;
  idleTimer = setTimeout(() => void closeMeshThreads(), IDLE_MS);
  idleTimer.unref();
}

function startThread(): MeshThread {
  threadsStarted++;
  const thread = { biggest: 0 } as MeshThread;
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
        thread.gone = true;
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

/** Threads done with a call wait for the next one; more than one per core are ended. */
function keepThreads(threads: MeshThread[]): void {
  const extra: MeshThread[] = [];
  for (const t of threads) {
    t.onReply = undefined;
    t.onFailure = undefined;
    if (t.gone || waiting.length >= defaultMeshThreads()) {
      extra.push(t);
      continue;
    }
    t.worker.unref();
    t.worker.postMessage({ kind: 'rest' } satisfies MeshWorkerRequest);
    waiting.push(t);
  }
  restartIdleTimer();
  void endThreads(extra);
}

async function endThreads(threads: MeshThread[]): Promise<void> {
  await Promise.all(
    threads.map(async (t) => {
      t.onReply = undefined;
      t.onFailure = undefined;
      await t.ready.catch(() => undefined);
      await t.worker?.terminate();
    }),
  );
}

/**
 * Starts mesh threads now, so that they are up and warm when the label map of a volume of `voxels`
 * voxels is ready to mesh (a job calls this as it starts reading its input). Returns at once; does
 * nothing when threads are already waiting, or when such a label map would be meshed in this thread.
 */
export function prepareMeshThreads(voxels: number): void {
  if (voxels < MIN_CELLS_FOR_THREADS) return;
  while (waiting.length < defaultMeshThreads()) waiting.unshift(startThread());
  restartIdleTimer();
}

let threadsStarted = 0;

/** Threads waiting for a job now, and threads started since the process began. */
export function meshThreadCounts(): { waiting: number; started: number } {
  return { waiting: waiting.length, started: threadsStarted };
}

/** Ends the threads waiting for a job (at shutdown, or after IDLE_MS without one). */
export async function closeMeshThreads(): Promise<void> {
  clearTimeout(idleTimer);
  await endThreads(waiting.splice(0));
}

/** Threads for one call: the most recently used waiting ones first, new ones for the rest; rejects when one cannot start. */
async function takeThreads(count: number): Promise<MeshThread[]> {
  const taken = waiting.splice(Math.max(0, waiting.length - count));
  restartIdleTimer();
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
async function inWorkers(
  data: LabelArray,
  geometry: MeshGeometry,
  jobs: MeshJob[],
  settings: MeshSettings,
  count: number,
  options: MeshAllOptions,
): Promise<MeshedSegment[] | null> {
  const { signal, onDone } = options;
  signal?.throwIfAborted();
  const order = jobs.map((_, i) => i).sort((a, b) => weight(jobs[b]) - weight(jobs[a]));
  const results: Array<MeshedSegment | undefined> = new Array(jobs.length);
  let threads: MeshThread[];
  try {
    threads = await takeThreads(count);
  } catch (err) {
    if (err instanceof WorkerStartError && !signal?.aborted) return null;
    throw err;
  }
  const { shared, giveBack } = shareLabels(data);
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
        thread.biggest = Math.max(thread.biggest, weight(jobs[id]));
        thread.worker.postMessage({
          kind: 'mesh',
          id,
          data: shared,
          geometry,
          settings,
          job: jobs[id],
        } satisfies MeshWorkerRequest);
      };
      // The biggest job goes to the thread that has meshed the biggest before: meshoptimizer's heap
      // grows to a thread's biggest job and never shrinks, so only one thread holds one that big.
      threads.sort((a, b) => b.biggest - a.biggest);
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
    keepThreads(threads);
    giveBack();
  } catch (err) {
    // Threads still meshing (aborted, or a sibling failed) cannot be interrupted: they are ended,
    // and the buffer they may still be reading is left to the collector.
    await endThreads(threads);
    throw err;
  }
  return results as MeshedSegment[];
}

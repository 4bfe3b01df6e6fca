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
 * read one shared label map (MeshBatch). For the benchmark CT one thread meshes the body (1.29 M
 * triangles), started while the lungs and bone are still being segmented (startedMeshes.ts), and
 * then the lungs (0.78 M), while the other meshes the bone (0.96 M) from the end of segmentation.
 *
 * The threads outlive one call: they wait, unreferenced, for the next job and end after IDLE_MS
 * without one. A fresh thread pays for faulting in its memory (meshoptimizer's WebAssembly heap,
 * the smoothing kernel's memory, its scratch arrays), at 3-10 us a page on these virtual machines,
 * and for meshoptimizer's first, unoptimised run; a thread that has meshed before pays none of it.
 * On the benchmark CT that is 2.8 s of meshing CPU against 4.3 s, 3.5 s a job against 4.3 s: the
 * difference between a PACS sending the series of a study, meshed one after another (the
 * benchmark's median run), and a single upload after a quiet spell (its first run). The price is
 * that memory, about 460 MB for the benchmark CT (meshoptimizer's heaps 235 MB, the smoothing
 * kernels' 75 MB, the shared label map buffer 75 MB (volume/sharedVoxels.ts), scratch arrays),
 * held for a minute after the last job. prepareMeshThreads starts threads as a job reads its input,
 * so that even cold threads are up and warmed up (meshWorker.ts) when the label map is ready. When
 * threads cannot start, the same work runs in this thread.
 */

export function defaultMeshThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/**
 * Below this many grid cells in all (a 250^3 box) the default is this thread: starting the workers
 * (0.3 s) would cost about as much as the meshing saves.
 */
const MIN_CELLS_FOR_THREADS = 16e6;

/**
 * Threads to mesh jobs of `cells` grid cells in all: `requested`, else one per core (at most 4), or
 * 1 (this thread) below MIN_CELLS_FOR_THREADS.
 */
export function meshThreadsFor(cells: number, requested?: number): number {
  return requested ?? (cells < MIN_CELLS_FOR_THREADS ? 1 : defaultMeshThreads());
}

/** Work of a job, to start the biggest first: surface nets visits every cell of its box. */
export function meshJobCells(job: MeshJob): number {
  const { min, max } = job.box;
  return (max[0] - min[0] + 3) * (max[1] - min[1] + 3) * (max[2] - min[2] + 3);
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
  /** Set once it has warmed up. */
  up?: boolean;
  /** Set when the thread failed or exited: it is never given work again. */
  gone?: boolean;
  /** Weight of the biggest job it has meshed (see ThreadBatch's dispatch). */
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
      worker.on('message', (reply: MeshWorkerReply) => {
        if (reply.kind === 'ready') {
          thread.up = true;
          resolve();
        } else thread.onReply?.(reply);
      });
      const fail = (err: Error): void => {
        thread.gone = true;
        const at = waiting.indexOf(thread);
        if (at >= 0) waiting.splice(at, 1);
        if (!thread.up) reject(err);
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

/**
 * Meshes of one label map, given as they become known: a job added while threads are free starts
 * at once, even while this thread goes on with synchronous work (an engine still segmenting, see
 * startedMeshes.ts). Jobs waiting for a thread start biggest first.
 */
export interface MeshBatch {
  /** Threads meshing: 1 when meshed in this thread (asked for, or the workers could not start). */
  readonly threads: number;
  /**
   * Meshes `jobs`, each resolving to its mesh. Jobs given together start biggest first, so that the
   * longest does not start last; a job given while a thread is free starts before this returns.
   */
  add(jobs: MeshJob[]): Array<Promise<MeshedSegment>>;
  /**
   * Gives the threads back to wait for the next batch; any still meshing (after an abort or a
   * failure) are ended. Call once every job has settled; calling again does nothing.
   */
  close(): Promise<void>;
}

/**
 * A batch meshing `data` in `threads` worker threads (1: in this thread). Each job reads the label
 * map when it starts, so labels still being written must be in shared memory, where the threads read
 * them in place; any other label map is copied into shared memory now.
 */
export function openMeshBatch(
  data: LabelArray,
  geometry: MeshGeometry,
  settings: MeshSettings,
  options: { threads: number; signal?: AbortSignal },
): MeshBatch {
  return options.threads > 1
    ? new ThreadBatch(data, geometry, settings, options.threads, options.signal)
    : new SerialBatch(data, geometry, settings, options.signal);
}

/** Jobs one after another in this thread. */
class SerialBatch implements MeshBatch {
  readonly threads = 1;
  #tail: Promise<unknown> = Promise.resolve();
  constructor(
    private readonly data: LabelArray,
    private readonly geometry: MeshGeometry,
    private readonly settings: MeshSettings,
    private readonly signal?: AbortSignal,
  ) {}

  add(jobs: MeshJob[]): Array<Promise<MeshedSegment>> {
    return jobs.map((job) => {
      const mesh = this.#tail.then(() => {
        this.signal?.throwIfAborted();
        return meshSegment(this.data, this.geometry, job, this.settings, this.signal);
      });
      this.#tail = mesh.catch(() => undefined);
      return mesh;
    });
  }

  async close(): Promise<void> {
    await this.#tail;
  }
}

interface Task {
  job: MeshJob;
  resolve: (mesh: MeshedSegment) => void;
  reject: (err: unknown) => void;
}

class ThreadBatch implements MeshBatch {
  #threads: MeshThread[];
  #idle: MeshThread[] = [];
  #running = new Map<MeshThread, Task & { id: number }>();
  #queue: Task[] = [];
  #shared: LabelArray;
  #giveBack: () => void;
  /** Set once no thread could start: the jobs are meshed in this thread. */
  #serial?: SerialBatch;
  #failed?: unknown;
  #closed = false;
  #nextId = 0;
  readonly #onAbort = (): void => this.#fail(this.signal?.reason);

  constructor(
    private readonly data: LabelArray,
    private readonly geometry: MeshGeometry,
    private readonly settings: MeshSettings,
    count: number,
    private readonly signal?: AbortSignal,
  ) {
    ({ shared: this.#shared, giveBack: this.#giveBack } = shareLabels(data));
    // The most recently used waiting threads first, new ones for the rest.
    this.#threads = waiting.splice(Math.max(0, waiting.length - count));
    restartIdleTimer();
    while (this.#threads.length < count) this.#threads.push(startThread());
    if (signal?.aborted) this.#fail(signal.reason);
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
    for (const thread of this.#threads) {
      thread.onReply = (reply) => this.#finished(thread, reply);
      thread.onFailure = (err) => this.#fail(err);
      // Taken up at once when already up: the job can start before this thread next yields.
      if (thread.up) this.#ready(thread);
      else
        thread.ready.then(
          () => this.#ready(thread),
          () => this.#notStarted(thread),
        );
    }
  }

  get threads(): number {
    return this.#serial ? 1 : this.#threads.length;
  }

  add(jobs: MeshJob[]): Array<Promise<MeshedSegment>> {
    if (this.#serial) return this.#serial.add(jobs);
    const meshes = jobs.map(
      (job) =>
        new Promise<MeshedSegment>((resolve, reject) => {
          if (this.#failed !== undefined || this.#closed) reject(this.#failed ?? new Error('the mesh batch is closed'));
          else this.#queue.push({ job, resolve, reject });
        }),
    );
    this.#queue.sort((a, b) => meshJobCells(b.job) - meshJobCells(a.job));
    this.#dispatch();
    return meshes;
  }

  #ready(thread: MeshThread): void {
    if (this.#closed || this.#failed !== undefined) return;
    thread.worker.ref();
    this.#idle.push(thread);
    this.#dispatch();
  }

  /** A thread that could not start is dropped; when none could, the jobs are meshed in this thread. */
  #notStarted(thread: MeshThread): void {
    this.#threads = this.#threads.filter((t) => t !== thread);
    if (this.#threads.length > 0 || this.#closed || this.#failed !== undefined) return;
    this.signal?.removeEventListener('abort', this.#onAbort);
    this.#serial = new SerialBatch(this.data, this.geometry, this.settings, this.signal);
    const queued = this.#queue.splice(0);
    this.#serial
      .add(queued.map((task) => task.job))
      .forEach((mesh, i) => mesh.then(queued[i].resolve, queued[i].reject));
  }

  #dispatch(): void {
    // The biggest job goes to the thread that has meshed the biggest before: meshoptimizer's heap
    // grows to a thread's biggest job and never shrinks, so only one thread holds one that big.
    this.#idle.sort((a, b) => b.biggest - a.biggest);
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const thread = this.#idle.shift() as MeshThread;
      const task = this.#queue.shift() as Task;
      thread.biggest = Math.max(thread.biggest, meshJobCells(task.job));
      const id = this.#nextId++;
      this.#running.set(thread, { ...task, id });
      thread.worker.postMessage({
        kind: 'mesh',
        id,
        data: this.#shared,
        geometry: this.geometry,
        settings: this.settings,
        job: task.job,
      } satisfies MeshWorkerRequest);
    }
  }

  #finished(thread: MeshThread, reply: Extract<MeshWorkerReply, { kind: 'mesh' }>): void {
    const task = this.#running.get(thread);
    if (task?.id !== reply.id) return;
    this.#running.delete(thread);
    if (!reply.ok) {
      this.#fail(new Error(`meshing failed in a worker thread: ${reply.message}`));
      return;
    }
    this.#idle.push(thread);
    task.resolve(reply.result);
    this.#dispatch();
  }

  /** Fails every job not yet finished; the threads still meshing are ended by close. */
  #fail(err: unknown): void {
    if (this.#failed !== undefined) return;
    this.#failed = err ?? new Error('meshing failed');
    for (const task of [...this.#queue.splice(0), ...this.#running.values()]) task.reject(this.#failed);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#serial) await this.#serial.close();
    for (const task of this.#queue.splice(0)) task.reject(new Error('the mesh batch was closed'));
    // Threads still meshing cannot be interrupted: they are ended, and the buffer they may still be
    // reading is left to the collector.
    const busy = [...this.#running.keys()];
    this.#running.clear();
    const started = await Promise.all(
      this.#threads.map((t) =>
        t.ready.then(
          () => true,
          () => false,
        ),
      ),
    );
    keepThreads(this.#threads.filter((t, i) => started[i] && !busy.includes(t)));
    await endThreads(busy);
    if (busy.length === 0) this.#giveBack();
  }
}

/**
 * Label maps in shared memory, so that the mesh threads read them in place instead of a copy. The
 * buffer is kept for the next job for a minute: a label map passed to the threads in new memory
 * would stay alive in every thread that has seen it until that thread's next garbage collection,
 * which for a thread waiting between jobs never comes (two or three label maps, 78 MB each for the
 * benchmark CT, were held that way), and the next job of a study finds the memory already faulted
 * in (first touching a page costs about 10 us on these virtual machines: 0.2 s for 78 MB). Small
 * label maps get plain memory: they are meshed in the calling thread.
 *
 * A buffer comes back through releaseVoxels; its contents are then another job's, so takers get it
 * zeroed.
 */

/** Below this many bytes, label maps get ordinary, unshared memory. */
export const MIN_SHARED_BYTES = 16 << 20;

/** The buffer waiting for the next job: one job at a time is the usual case. */
let kept: SharedArrayBuffer | undefined;
/** Buffers handed out from here, so that only those are taken back. */
const ours = new WeakSet<SharedArrayBuffer>();
const IDLE_MS = 60_000;
let idleTimer: NodeJS.Timeout | undefined;

/**
 * A shared buffer of at least `bytes` (its contents unspecified: an earlier job's), the kept one
 * when it fits, or a new one. Null when `bytes` is below MIN_SHARED_BYTES.
 */
export function takeSharedBuffer(bytes: number): SharedArrayBuffer | null {
  if (bytes < MIN_SHARED_BYTES) return null;
  let buffer: SharedArrayBuffer;
  if (kept && kept.byteLength >= bytes) {
    buffer = kept;
    kept = undefined;
  } else buffer = new SharedArrayBuffer(bytes);
  ours.add(buffer);
  return buffer;
}

/** A zeroed label array of `length` labels, in shared memory when it is big enough. */
export function sharedLabels(length: number): Uint8Array {
  const buffer = takeSharedBuffer(length);
  if (!buffer) return new Uint8Array(length);
  return new Uint8Array(buffer, 0, length).fill(0);
}

/**
 * Takes back a buffer handed out by takeSharedBuffer, to keep for the next job (the bigger of it
 * and the one kept); false for any other buffer. The caller must not use it afterwards.
 */
export function giveBackSharedBuffer(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof SharedArrayBuffer) || !ours.has(buffer)) return false;
  ours.delete(buffer);
  if (!kept || buffer.byteLength > kept.byteLength) kept = buffer;
  clearTimeout(idleTimer);
  idleTimer = setTimeout(dropSharedBuffers, IDLE_MS);
  idleTimer.unref();
  return true;
}

/** Lets the kept buffer go (after a quiet minute, or at shutdown); the collector frees it. */
export function dropSharedBuffers(): void {
  clearTimeout(idleTimer);
  kept = undefined;
}

export function keptSharedBuffers(): number {
  return kept ? 1 : 0;
}

/**
 * Volume-sized buffers in shared memory, kept for the next job for a minute. A label map made in
 * one is read by the mesh threads in place instead of copied, and the next job of a study (a PACS
 * sends its series one after another) gets memory already faulted in: on these virtual machines
 * first touching a page costs about 10 us, 0.2 s for the benchmark CT's 78 MB label map
 * (docs/performance.md). Small volumes get plain memory: they gain nothing from this.
 *
 * A buffer comes back through releaseVoxels; its contents are then another job's until the new
 * owner overwrites them, so takers zero what they do not write.
 */

/** Below this many bytes, volumes get ordinary, unshared memory. */
export const MIN_SHARED_BYTES = 16 << 20;

/** Buffers waiting for the next job (at most two: a job's label map and one more). */
const kept: SharedArrayBuffer[] = [];
const KEEP = 2;
/** Buffers handed out from here, so that only those are taken back. */
const ours = new WeakSet<SharedArrayBuffer>();
const IDLE_MS = 60_000;
let idleTimer: NodeJS.Timeout | undefined;

/**
 * A shared buffer of at least `bytes` (its contents unspecified: an earlier job's), the smallest
 * kept one that fits, or a new one. Null when `bytes` is below MIN_SHARED_BYTES.
 */
export function takeSharedBuffer(bytes: number): SharedArrayBuffer | null {
  if (bytes < MIN_SHARED_BYTES) return null;
  let best = -1;
  for (let i = 0; i < kept.length; i++)
    if (kept[i].byteLength >= bytes && (best < 0 || kept[i].byteLength < kept[best].byteLength)) best = i;
  const buffer = best >= 0 ? kept.splice(best, 1)[0] : new SharedArrayBuffer(bytes);
  ours.add(buffer);
  return buffer;
}

/** A zeroed label array of `length` labels, in a kept shared buffer when it is big enough. */
export function sharedLabels(length: number): Uint8Array {
  const buffer = takeSharedBuffer(length);
  if (!buffer) return new Uint8Array(length);
  return new Uint8Array(buffer, 0, length).fill(0);
}

/**
 * Takes back a buffer handed out by takeSharedBuffer, to keep for the next job; false for any
 * other buffer. The caller must not use it afterwards.
 */
export function giveBackSharedBuffer(buffer: ArrayBufferLike): boolean {
  if (!(buffer instanceof SharedArrayBuffer) || !ours.has(buffer)) return false;
  ours.delete(buffer);
  // The biggest are kept: they serve any smaller volume too.
  kept.push(buffer);
  kept.sort((a, b) => b.byteLength - a.byteLength);
  kept.length = Math.min(kept.length, KEEP);
  clearTimeout(idleTimer);
  idleTimer = setTimeout(dropSharedBuffers, IDLE_MS);
  idleTimer.unref();
  return true;
}

/** Lets the kept buffers go (after a quiet minute, or at shutdown); the collector frees them. */
export function dropSharedBuffers(): void {
  clearTimeout(idleTimer);
  kept.length = 0;
}

export function keptSharedBuffers(): number {
  return kept.length;
}

import { once } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { giveBackSharedBuffer } from './sharedVoxels.ts';
import type { Volume, VoxelArray } from './volume.ts';

/**
 * Frees a volume's voxels now rather than at some later garbage collection (resolves once they are
 * freed); the volume must not be read afterwards (its data becomes empty). JavaScript has no
 * explicit free, but transferring an ArrayBuffer detaches it and hands its memory to the message,
 * and a message left in a port that closes is dropped, memory and all. A job lets its CT go this
 * way once segmented, or it would stay resident through the meshing (no major collection comes while
 * the work happens in other threads; docs/performance.md).
 *
 * Voxels in a buffer from sharedVoxels.ts go back there for the next job, and the volume is left
 * empty so that nothing reads that job's voxels through it. Does nothing for voxels that share
 * their buffer with anything else (a view into a larger buffer not marked with ownsWholeBuffer,
 * other shared memory): those are left to the garbage collector.
 */
/** Buffers whose only reader is the one volume viewing part of them (see ownsWholeBuffer). */
const wholeBuffers = new WeakSet<ArrayBufferLike>();

/**
 * Marks `data`'s buffer as read by nothing else, though `data` views only part of it (a NIfTI
 * file's voxels after its header), so that releaseVoxels frees all of it.
 */
export function ownsWholeBuffer(data: VoxelArray): void {
  wholeBuffers.add(data.buffer);
}

export async function releaseVoxels(volume: Volume): Promise<void> {
  const { buffer, byteLength } = volume.data;
  if (giveBackSharedBuffer(buffer)) {
    const Empty = volume.data.constructor as new (length: number) => VoxelArray;
    volume.data = new Empty(0);
    return;
  }
  if (buffer instanceof SharedArrayBuffer || byteLength === 0) return;
  if (buffer.byteLength !== byteLength && !wholeBuffers.has(buffer)) return;
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(null, [buffer]);
  } catch {
    // An untransferable buffer (Node's own pools): the collector frees it.
  }
  const closed = once(port2, 'close');
  port1.close();
  port2.close();
  await closed;
}

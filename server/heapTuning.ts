import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow after a full garbage collection before it starts the next
 * one, as a percentage of what survived it (V8's --heap-growing-percent; 100 = twice the live heap).
 *
 * Why: this process keeps a small heap (about 35 MB live) and allocates few JS objects, so V8 chooses an
 * old-generation limit barely above it, and the Buffers that socket reads hand over (a 512 KB CT slice is
 * half a megabyte of them) count against that room too: V8's trace showed marking start with the JS heap
 * at 33 of a 57 MB limit. Receiving a 300-slice series over one association ran 43-55 full mark-compacts,
 * one every 6 instances, on the thread that also parses, answers and indexes. With this setting it ran 7-9, and the same benchmark received
 * 20-40% more instances per second with the same RSS growth (bench/cstore, bench/stow report the counts).
 * The setting replaces V8's own choice also where that would have been larger (up to 4 times for a heap
 * that is cheap to collect): then a small heap is collected a little more often, which costs little.
 */
export const HEAP_GROWING_PERCENT = 100;

const EXPLICIT = /^--heap[-_]growing[-_]percent\b/;

/**
 * Sets HEAP_GROWING_PERCENT for this process (V8's flags are process-wide), unless Node was started with a value
 * of its own (`node --heap-growing-percent=N ...`; V8 flags cannot come through NODE_OPTIONS). V8 reads
 * it at each mark-compact, so setting it at start-up takes effect. Returns whether it was set here.
 */
export function tuneHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => EXPLICIT.test(a))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

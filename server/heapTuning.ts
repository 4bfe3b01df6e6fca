import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow after a full garbage collection before it starts the next one, as a
 * percentage of what survived it (V8's --heap-growing-percent; 100 = twice the live heap).
 *
 * Why: this process keeps a small heap and allocates few JS objects, so V8 chooses an old-generation limit barely
 * above it, and the Buffers that socket reads hand over count against that room too: receiving ran a full
 * mark-compact every few instances on the thread that also parses, answers and indexes (docs/performance.md).
 * The setting replaces V8's own choice also where that would have been larger; a small heap is then collected a
 * little more often, which costs little.
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

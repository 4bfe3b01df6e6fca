/** Small helpers shared by benchmarks. */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** Samples this process's RSS until stopped; returns the peak in MB. */
export function rssSampler(intervalMs = 20): { stop(): number; peakMb(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return Math.round(peak / 2 ** 20);
    },
    peakMb: () => Math.round(Math.max(peak, process.memoryUsage.rss()) / 2 ** 20),
  };
}

/**
 * Counts this process's full (mark-compact) garbage collections from now on: a receiving server's count
 * shows whether its heap setting holds (server/heapTuning.ts).
 */
export function majorGcCounter(): { count(): number } {
  let n = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++;
  });
  observer.observe({ entryTypes: ['gc'] });
  return { count: () => n };
}

export function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Runs `a` then `b` in even rounds and `b` then `a` in odd ones, so drift in the machine's load falls on both alike. */
export async function alternating(round: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<void> {
  if (round % 2 === 0) {
    await a();
    await b();
  } else {
    await b();
    await a();
  }
}

type Rated = Record<string, unknown> & { instancesPerSecond?: unknown };

/** The round whose instances/s is the median (its other figures come along), with every round's rate. */
export function medianRound(rounds: Rated[]): Record<string, unknown> {
  const sorted = [...rounds].sort((a, b) => (a.instancesPerSecond as number) - (b.instancesPerSecond as number));
  return { ...sorted[Math.floor(sorted.length / 2)], rounds: rounds.map((r) => r.instancesPerSecond) };
}

/** Ours over theirs (instances/s) round by round, sorted, and the median of those ratios. */
export function roundRatios(ours: Rated[], theirs: Rated[]): { median: number; rounds: number[] } {
  const r = ours.map((o, k) => round((o.instancesPerSecond as number) / (theirs[k].instancesPerSecond as number))).sort((a, b) => a - b);
  return { median: r[Math.floor(r.length / 2)], rounds: r };
}

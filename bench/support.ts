/** Small helpers shared by benchmarks. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
    for (const e of list.getEntries())
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        n++;
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
  const r = ours
    .map((o, k) => round((o.instancesPerSecond as number) / (theirs[k].instancesPerSecond as number)))
    .sort((a, b) => a - b);
  return { median: r[Math.floor(r.length / 2)], rounds: r };
}

/**
 * CPU time a process has used so far, all its threads (V8's compiler and GC threads, libuv's pool), in ms,
 * from /proc/<pid>/stat (utime + stime, fields 14 and 15, in clock ticks); undefined where there is no
 * /proc. Read the same way for our receivers and Orthanc, so their CPU per instance compares like for like.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return (cpuTicksOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

/** utime + stime of a /proc/<pid>/stat line, in clock ticks. */
export function cpuTicksOfStat(stat: string): number {
  // The command name (field 2) is in parentheses and may itself hold spaces and ')': fields 3 on start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error('not a /proc/<pid>/stat line');
  return ticks;
}

/** The whole machine's busy and total CPU time so far (clock ticks over all CPUs, /proc/stat). */
function machineCpuTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.slice(0, 8).reduce((s, v) => s + v, 0); // user..steal; guest time is inside user
    const idle = t[3] + t[4]; // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * What a timed window cost: the receiving process's CPU per instance and how busy the whole machine was
 * (100 = every CPU busy), which tells a run limited by CPU (senders and receiver sharing the cores) from
 * one limited by waits (fsyncs, round trips).
 */
export function cpuWindow(pid: number | undefined): {
  end(instances: number): { cpuMsPerInstance?: number; machineBusyPercent?: number };
} {
  const cpu0 = processCpuMs(pid);
  const machine0 = machineCpuTicks();
  return {
    end(instances) {
      const cpu1 = processCpuMs(pid);
      const machine1 = machineCpuTicks();
      const out: { cpuMsPerInstance?: number; machineBusyPercent?: number } = {};
      if (cpu0 !== undefined && cpu1 !== undefined) out.cpuMsPerInstance = round((cpu1 - cpu0) / instances);
      if (machine0 && machine1 && machine1.total > machine0.total) {
        out.machineBusyPercent = round((100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total), 0);
      }
      return out;
    },
  };
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

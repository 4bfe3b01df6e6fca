import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EngineContext } from '../../server/engines/engine.ts';
import { writeNifti } from '../../server/volume/niftiWrite.ts';
import type { LabelMap, Volume } from '../../server/volume/volume.ts';

export const FAKE_SLICER = resolve(import.meta.dirname, '../fixtures/fake-slicer/Slicer');
export const FAKE_TOTALSEGMENTATOR = resolve(import.meta.dirname, '../fixtures/fake-totalsegmentator/TotalSegmentator');

export interface RecordingContext extends EngineContext {
  progressCalls: Array<[number, string]>;
  /** Date.now() of each progress call and each log line. */
  progressTimes: number[];
  lines: string[];
  lineTimes: number[];
  abort(reason?: unknown): void;
}

export function makeContext(workDir: string): RecordingContext {
  const ac = new AbortController();
  const progressCalls: Array<[number, string]> = [];
  const progressTimes: number[] = [];
  const lines: string[] = [];
  const lineTimes: number[] = [];
  return {
    jobId: 'job-test',
    workDir,
    signal: ac.signal,
    progressCalls,
    progressTimes,
    lines,
    lineTimes,
    abort: (reason?: unknown) => ac.abort(reason),
    async progress(percent, status) {
      progressCalls.push([percent, status]);
      progressTimes.push(Date.now());
    },
    log(line) {
      lines.push(line);
      lineTimes.push(Date.now());
    },
  };
}

export function tempDir(t: { after(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A small CT-like volume and a matching TotalSegmentator-style label map (liver 5, right kidney 2,
 * aorta 52) on a tilted-free 3 mm grid, written as NIfTI: fixtures made by the test itself.
 */
export async function writeSyntheticCase(
  dir: string,
): Promise<{ volume: Volume; labelMap: LabelMap; ctPath: string; segPath: string }> {
  const dims: [number, number, number] = [20, 16, 10];
  const n = dims[0] * dims[1] * dims[2];
  const ct = new Int16Array(n).fill(-1000);
  const labels = new Uint8Array(n);
  for (let k = 0; k < dims[2]; k++) {
    for (let j = 0; j < dims[1]; j++) {
      for (let i = 0; i < dims[0]; i++) {
        const idx = i + dims[0] * (j + dims[1] * k);
        if (k >= 2 && k < 8 && j >= 3 && j < 12 && i >= 2 && i < 9) labels[idx] = 5;
        else if (k >= 3 && k < 7 && j >= 4 && j < 9 && i >= 12 && i < 16) labels[idx] = 2;
        else if (j >= 12 && j < 14 && i >= 9 && i < 11) labels[idx] = 52;
        if (labels[idx]) ct[idx] = 60;
      }
    }
  }
  const geometry = {
    dims,
    spacing: [3, 3, 3] as [number, number, number],
    origin: [-30, -24, -15] as [number, number, number],
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] as Volume['direction'],
  };
  const volume: Volume = { ...geometry, data: ct, modality: 'CT' };
  const labelMap: LabelMap = { ...geometry, data: labels };
  const ctPath = join(dir, 'ct.nii.gz');
  const segPath = join(dir, 'reference_seg.nii.gz');
  await writeNifti(ctPath, volume);
  await writeNifti(segPath, labelMap);
  return { volume, labelMap, ctPath, segPath };
}

/** The fake TotalSegmentator's record of when each prediction started and ended. */
export function readPredictionEvents(path: string): Array<{ event: 'predict-start' | 'predict-end'; time: number }> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const e = JSON.parse(l) as { event: 'predict-start' | 'predict-end'; time: number };
      return { event: e.event, time: e.time * 1000 };
    });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

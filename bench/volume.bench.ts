import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDicomSeries } from '../server/volume/dicomSeries.ts';
import { makeSyntheticCt, writeSyntheticDicomSeries } from '../test/support/syntheticCt.ts';

/** Reads a generated 512x512x300 CT series (explicit VR LE, one file per slice): seconds and peak RSS. */
export async function run(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'volume-bench-'));
  try {
    let t = performance.now();
    const ct = makeSyntheticCt({ dims: [512, 512, 300], seed: 1 });
    const generateSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const paths = await writeSyntheticDicomSeries(dir, ct);
    const writeSeconds = (performance.now() - t) / 1000;
    ct.data = new Int16Array(0); // the reader's own memory is what we measure
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    t = performance.now();
    const { volume } = await readDicomSeries(paths);
    const readSeconds = (performance.now() - t) / 1000;
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    return {
      series: '512x512x300 CT, explicit VR little endian',
      generateSeconds: +generateSeconds.toFixed(2),
      writeSeconds: +writeSeconds.toFixed(2),
      readSeconds: +readSeconds.toFixed(2),
      slicesPerSecond: Math.round(300 / readSeconds),
      rssBeforeReadMb: Math.round(rssBefore / 1e6),
      peakRssMb: Math.round(peak / 1e6),
      voxelType: volume.data.constructor.name,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

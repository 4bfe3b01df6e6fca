/**
 * Zip download of ~1 GB of results: our streamed zip (archiver, store for .glb/.nii.gz) served over
 * HTTP to a client that reads as fast as it can, against Info-ZIP `zip -0` of the same files to
 * stdout (performance.md: 396 MB/s there). Also the server's RSS growth while streaming: the zip is
 * never held in memory, so it should stay flat (target under 50 MB).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createZipStream } from '../server/downloads/zipStream.ts';

const MB = 1024 * 1024;

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(8 * MB);
  try {
    for (let left = bytes; left > 0; left -= chunk.length) {
      randomFillSync(chunk);
      await fh.write(chunk, 0, Math.min(chunk.length, left));
    }
  } finally {
    await fh.close();
  }
}

function zipCli(files: string[]): Promise<{ seconds: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('zip', ['-0', '-q', '-j', '-', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.stdout.on('data', (c: Buffer) => (bytes += c.length));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes })
        : reject(new Error(`zip exited ${code}`)),
    );
  });
}

export async function run(): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-zip-bench-'));
  try {
    // A realistic mix: big .glb and .nii.gz (stored), a .gltf (deflated), small JSON.
    const plan: Array<[string, number]> = [];
    for (let i = 0; i < 9; i++)
      plan.push([`case${i}.glb`, 64 * MB], [`case${i}_seg.nii.gz`, 48 * MB], [`case${i}_segments.json`, 64 * 1024]);
    plan.push(['atlas.gltf', 8 * MB]);
    for (const [name, size] of plan) await writeRandomFile(join(dir, name), size);
    const files = plan.map(([name]) => join(dir, name));
    const inputBytes = plan.reduce((s, [, size]) => s + size, 0);

    const server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/zip');
      void pipeline(createZipStream(plan.map(([name]) => ({ path: join(dir, name), name }))), res).catch(
        () => undefined,
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

    const runOurs = async (): Promise<{ seconds: number; bytes: number; rssGrowthMB: number }> => {
      globalThis.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const started = process.hrtime.bigint();
      const res = await fetch(url);
      let bytes = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearInterval(sampler);
      return { seconds, bytes, rssGrowthMB: (peak - baseline) / MB };
    };

    // Warm the page cache for both sides, then alternate runs (the machines are noisy).
    await runOurs();
    await zipCli(files);
    const ours: Array<{ seconds: number; bytes: number; rssGrowthMB: number }> = [];
    const cli: Array<{ seconds: number; bytes: number }> = [];
    for (let i = 0; i < 3; i++) {
      ours.push(await runOurs());
      cli.push(await zipCli(files));
    }
    server.close();
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const oursS = median(ours.map((r) => r.seconds));
    const cliS = median(cli.map((r) => r.seconds));
    return {
      inputMB: +(inputBytes / MB).toFixed(1),
      files: plan.length,
      streamedZipMB: +(ours[0].bytes / MB).toFixed(1),
      oursSeconds: +oursS.toFixed(3),
      oursMBps: +(inputBytes / MB / oursS).toFixed(1),
      zip0Seconds: +cliS.toFixed(3),
      zip0MBps: +(inputBytes / MB / cliS).toFixed(1),
      speedVsZip0: +(cliS / oursS).toFixed(2),
      serverRssGrowthMB: +Math.max(...ours.map((r) => r.rssGrowthMB)).toFixed(1),
      note: 'server and client in one process: RSS growth includes the fetch client',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

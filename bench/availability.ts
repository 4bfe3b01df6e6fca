/**
 * Availability under abuse, against the real server (`main.ts serve` as a child process, embedded PGlite, DIMSE on):
 * /healthz latency, probed once every 50 ms on a new connection, while
 *   1. 5,000 tiny DICOM files arrive in one upload request,
 *   2. 200 half-open DIMSE connections (a PDU header, then a byte now and then) and 200 slow HTTP sign-ins
 *      (Content-Length 1000, a byte every 5 s) are held, each reopened as soon as the server closes it,
 *   3. both at once;
 * then how long SIGTERM takes during a 5,000-file upload. The attackers use other loopback addresses
 * (127.0.1.x, 127.0.2.x) than the probe, as clients on other hosts would. Server RSS is sampled from /proc.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/orthanc.ts';
import { startServerProcess, type ServerProcess } from '../test/support/serverProcess.ts';
import { makeSyntheticCt, syntheticDicomSlices } from '../test/support/syntheticCt.ts';

const FILES = 5000;
const ATTACKERS = 200;

interface Latency {
  probes: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** GET /healthz every `everyMs` on a fresh connection until stopped; a probe over 10 s counts as failed. */
function probeHealth(url: string, everyMs = 50): { stop(): Promise<Latency> } {
  const times: number[] = [];
  let failed = 0;
  let running = true;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = get(`${url}/healthz`, { agent: false, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) times.push(performance.now() - started);
          else failed += 1;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed += 1;
        resolve();
      });
    });
  const loop = (async () => {
    while (running) {
      const next = performance.now() + everyMs;
      await one();
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = [...times].sort((a, b) => a - b);
      const round = (n: number): number => Math.round(n * 10) / 10;
      return {
        probes: times.length + failed,
        failed,
        p50Ms: round(percentile(sorted, 50)),
        p99Ms: round(percentile(sorted, 99)),
        maxMs: round(sorted[sorted.length - 1] ?? NaN),
      };
    },
  };
}

/** Peak resident memory of a process while sampling, in MB. */
function sampleRss(pid: number): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => {
    void readFile(`/proc/${pid}/status`, 'utf8').then(
      (s) => {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
        peak = Math.max(peak, kb / 1024);
      },
      () => undefined,
    );
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(peak);
    },
  };
}

/** 5,000 new instances (a series of its own each time). */
function tinyFilesForm(seed: number): FormData {
  const form = new FormData();
  let i = 0;
  for (const slice of syntheticDicomSlices(makeSyntheticCt({ dims: [2, 2, FILES], seed }))) {
    form.append('files', new Blob([new Uint8Array(slice)]), `tiny-${(i += 1)}.dcm`);
  }
  return form;
}

/** The form is built before the clock starts: making 5,000 instances would stall the probe in this process. */
async function uploadTinyFiles(
  url: string,
  form: FormData,
): Promise<{ seconds: number; status: number; accepted: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/api/uploads`, { method: 'POST', body: form });
  const body = (await res.json()) as { accepted?: unknown[] };
  return {
    seconds: Math.round((performance.now() - started) / 100) / 10,
    status: res.status,
    accepted: body.accepted?.length ?? 0,
  };
}

/**
 * `count` connections held open by `open`, each reopened when the server closes it. Returns how often the server
 * closed one and how long the closed ones had stayed open.
 */
function holdConnections(
  count: number,
  open: (i: number) => Socket,
): { stop(): { held: number; closedByServer: number; medianOpenMs: number } } {
  let running = true;
  const sockets = new Set<Socket>();
  const lifetimes: number[] = [];
  const start = (i: number): void => {
    if (!running) return;
    const opened = performance.now();
    const s = open(i);
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    s.once('close', () => {
      sockets.delete(s);
      if (!running) return;
      lifetimes.push(performance.now() - opened);
      setTimeout(() => start(i), 100);
    });
  };
  for (let i = 0; i < count; i++) start(i);
  return {
    stop() {
      running = false;
      const held = sockets.size;
      for (const s of sockets) s.destroy();
      const sorted = lifetimes.sort((a, b) => a - b);
      return { held, closedByServer: lifetimes.length, medianOpenMs: Math.round(percentile(sorted, 50)) };
    },
  };
}

function halfOpenDimse(port: number): ReturnType<typeof holdConnections> {
  return holdConnections(ATTACKERS, (i) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: `127.0.1.${1 + (i % 50)}` });
    s.once('connect', () => {
      const header = Buffer.alloc(6);
      header[0] = 0x01;
      header.writeUInt32BE(200, 2);
      s.write(header);
      const trickle = setInterval(() => (s.destroyed ? clearInterval(trickle) : s.write(Buffer.from([0]))), 10_000);
      s.once('close', () => clearInterval(trickle));
    });
    return s;
  });
}

function slowHttp(port: number): ReturnType<typeof holdConnections> {
  return holdConnections(ATTACKERS, (i) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: `127.0.2.${1 + (i % 50)}` });
    s.once('connect', () => {
      s.write('POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
      const trickle = setInterval(() => (s.destroyed ? clearInterval(trickle) : s.write(' ')), 5000);
      s.once('close', () => clearInterval(trickle));
    });
    return s;
  });
}

async function phase<T>(
  server: ServerProcess,
  work: () => Promise<T>,
): Promise<{ healthz: Latency; serverPeakRssMb: number; work: T }> {
  const probe = probeHealth(server.url);
  const rss = sampleRss(server.child.pid as number);
  const result = await work();
  return { healthz: await probe.stop(), serverPeakRssMb: rss.stop(), work: result };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function measureAvailability(): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ag-availability-'));
  const dimsePort = await freePort();
  const server = await startServerProcess(undefined, {
    dataDir,
    env: { DIMSE_PORT: String(dimsePort), SERIES_STABLE_SECONDS: '3600', WORKER_CONCURRENCY: '0' },
  });
  try {
    const idle = await phase(server, () => sleep(3000));
    const form = tinyFilesForm(1);
    const upload = await phase(server, () => uploadTinyFiles(server.url, form));
    const attackSeconds = 40;
    const attacked = await phase(server, async () => {
      const dimse = halfOpenDimse(dimsePort);
      const http = slowHttp(Number(new URL(server.url).port));
      await sleep(attackSeconds * 1000);
      return { seconds: attackSeconds, dimse: dimse.stop(), http: http.stop() };
    });
    const form2 = tinyFilesForm(2);
    const together = await phase(server, async () => {
      const dimse = halfOpenDimse(dimsePort);
      const http = slowHttp(Number(new URL(server.url).port));
      await sleep(2000);
      const up = await uploadTinyFiles(server.url, form2);
      return { upload: up, dimse: dimse.stop(), http: http.stop() };
    });
    // SIGTERM one second into another 5,000-file upload: how long until the process has exited.
    const form3 = tinyFilesForm(3);
    const uploading = uploadTinyFiles(server.url, form3).catch((e: unknown) => ({ error: (e as Error).message }));
    await sleep(1000);
    const t0 = performance.now();
    const code = await server.stop(60_000);
    const sigtermSeconds = Math.round((performance.now() - t0) / 100) / 10;
    await uploading;
    return {
      files: FILES,
      attackers: { dimseHalfOpen: ATTACKERS, slowHttp: ATTACKERS },
      idle: { healthz: idle.healthz, serverPeakRssMb: idle.serverPeakRssMb },
      upload: { ...upload.work, healthz: upload.healthz, serverPeakRssMb: upload.serverPeakRssMb },
      attacked: { ...attacked.work, healthz: attacked.healthz, serverPeakRssMb: attacked.serverPeakRssMb },
      uploadWhileAttacked: { ...together.work, healthz: together.healthz, serverPeakRssMb: together.serverPeakRssMb },
      sigtermDuringUpload: { seconds: sigtermSeconds, exitCode: code },
    };
  } finally {
    await server.kill9();
    await rm(dataDir, { recursive: true, force: true });
  }
}

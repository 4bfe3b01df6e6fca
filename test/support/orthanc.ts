import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { hasProgram } from './requirements.ts';

/** Orthanc with its DICOMweb plugin (Debian: orthanc, orthanc-dicomweb). */
export const ORTHANC_DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export function hasOrthanc(): boolean {
  return hasProgram('Orthanc') && existsSync(ORTHANC_DICOMWEB_PLUGIN);
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface RunningOrthanc {
  url: string;
  /** Orthanc's DICOM port (AE title ORTHANC). */
  dicomPort: number;
  /** Headers for Orthanc's own REST API when started with `users` (the first user). */
  headers: Record<string, string>;
  /** The Orthanc process (benchmarks read its CPU time). */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface OrthancOptions {
  /** HTTP Basic users; when given, Orthanc refuses every request without one of them. */
  users?: Record<string, string>;
  /** More Orthanc settings (e.g. DicomModalities, DicomAlwaysAllowGet), merged over the defaults. */
  config?: Record<string, unknown>;
  /** More environment for the Orthanc process (e.g. TCP_NODELAY=1, which its DCMTK network layer reads). */
  env?: Record<string, string>;
}

/**
 * Starts a private Orthanc on loopback ports with its own storage and configuration, DICOMweb enabled
 * (fsync on, the default), and `servers` registered as DICOMweb peers.
 */
export async function startOrthanc(
  servers: Record<string, string[]> = {},
  options: OrthancOptions = {},
): Promise<RunningOrthanc> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-orthanc-'));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const config = {
    Name: 'ag-test',
    StorageDirectory: join(dir, 'storage'),
    IndexDirectory: join(dir, 'index'),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: options.users !== undefined,
    ...(options.users ? { RegisteredUsers: options.users } : {}),
    SyncStorageArea: true,
    HttpDescribeErrors: true,
    Plugins: [ORTHANC_DICOMWEB_PLUGIN],
    DicomWeb: { Enable: true, Root: '/dicom-web/', Servers: servers },
    ...options.config,
  };
  const configPath = join(dir, 'orthanc.json');
  await writeFile(configPath, JSON.stringify(config));
  const child: ChildProcess = spawn('Orthanc', process.env.ORTHANC_VERBOSE ? ['--verbose', configPath] : [configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
    if (process.env.ORTHANC_VERBOSE) process.stderr.write(c);
  });
  const url = `http://127.0.0.1:${httpPort}`;
  const [user] = Object.entries(options.users ?? {});
  const headers: Record<string, string> = user
    ? { Authorization: `Basic ${Buffer.from(`${user[0]}:${user[1]}`).toString('base64')}` }
    : {};
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`Orthanc exited at start: ${stderr}`);
    }
    try {
      const res = await fetch(`${url}/system`, { headers });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Orthanc did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, dicomPort, headers, pid: child.pid, stop };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The real server (`node --import tsx server/main.ts serve|worker`) as a child process with its own
 * DATA_DIR and a free port, for crash and fault tests: it can be killed with SIGKILL like a power cut.
 */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:<port> (serve only). */
  readonly url: string;
  /** Everything it printed so far (pino JSON lines). */
  output(): string;
  /** SIGKILL, and wait until it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, and wait for a clean exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  dataDir: string;
  command?: 'serve' | 'worker';
  /** Added to (and overriding) the defaults below; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** How long to wait for it to listen (or, for a worker, to start). */
  startTimeoutMs?: number;
}

export async function startServerProcess(t: TestContext | undefined, options: StartOptions): Promise<ServerProcess> {
  const command = options.command ?? 'serve';
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: undefined,
    DATA_DIR: options.dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    AUTH: 'off',
    ENGINE: 'builtin',
    SERIES_STABLE_SECONDS: '1',
    JOB_LEASE_SECONDS: '3',
    MIN_FREE_DISK_MB: '0',
    LOG_LEVEL: 'info',
    ...options.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'main.ts'), command], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });

  const ready = await new Promise<{ port: number } | { error: string }>((resolve) => {
    const timer = setTimeout(() => resolve({ error: 'timed out' }), options.startTimeoutMs ?? 60_000);
    const check = (): void => {
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number };
          if (command === 'serve' && j.msg === 'listening' && typeof j.port === 'number') {
            clearTimeout(timer);
            resolve({ port: j.port });
            return;
          }
          if (command === 'worker' && j.msg === 'worker started') {
            clearTimeout(timer);
            resolve({ port: 0 });
            return;
          }
        } catch {
          // a partial line: wait for more
        }
      }
    };
    child.stdout?.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      resolve({ error: 'exited' });
    });
  });
  const proc: ServerProcess = {
    child,
    url: 'port' in ready ? `http://127.0.0.1:${ready.port}` : '',
    output: () => out,
    exited,
    async kill9() {
      if (!gone) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 30_000) {
      if (gone) return (await exited).code;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  t?.after(() => proc.kill9());
  if ('error' in ready) {
    await proc.kill9();
    throw new Error(`the ${command} process did not start (${ready.error}):\n${out.slice(-4000)}`);
  }
  return proc;
}

/** Polls `fn` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Every file under `dir`, relative, sorted (for before/after comparisons of a DATA_DIR). */
export async function fileTree(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

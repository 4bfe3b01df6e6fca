import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from './orthanc.ts';

const run = promisify(execFile);

/** The PostgreSQL server binaries: PG_BIN, else the newest Debian /usr/lib/postgresql/<version>/bin. */
export const PG_BIN = process.env.PG_BIN ?? newestDebianPgBin() ?? '/usr/lib/postgresql/15/bin';

function newestDebianPgBin(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    return undefined;
  }
  return versions
    .filter((v) => /^\d+$/.test(v) && existsSync(join('/usr/lib/postgresql', v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join('/usr/lib/postgresql', v, 'bin'))[0];
}

export function hasPostgresServer(): boolean {
  return existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
}

/**
 * A throwaway PostgreSQL cluster of its own (temp folder, free port, trust auth) for tests that stop or
 * restart the database: the machine's shared server on 5432 is used by other test files at the same time.
 */
export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** `pg_ctl restart` with the given shutdown mode; resolves once it accepts connections again. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** The server's log so far (for failure messages). */
  log(): Promise<string>;
}

export async function startPrivatePostgres(t: TestContext): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'ag-pg-'));
  // PostgreSQL refuses to run as root: as root, everything runs as the `postgres` user on a folder it owns.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const pgCmd = async (program: string, args: string[]): Promise<string> => {
    const file = join(PG_BIN, program);
    const { stdout } = asRoot
      ? await run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: 60_000 })
      : await run(file, args, { timeout: 60_000 });
    return stdout;
  };
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const port = await freePort();
  let started = false;
  t.after(async () => {
    // Even when the test failed half way: no server left running, no folder left behind.
    if (started) await pgCmd('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  await pgCmd('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  // Only PostgreSQL stops in these tests, never the machine: WAL in the page cache survives an immediate
  // stop, so fsync would only make the test slower.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = async (): Promise<void> => {
    await pgCmd('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '30', 'start']);
    started = true;
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async restart(mode) {
      await pgCmd('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-m', mode, '-w', '-t', '30', 'restart']);
    },
    async stop(mode) {
      await pgCmd('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
      started = false;
    },
    start,
    async log() {
      return readFile(logFile, 'utf8').catch(() => '');
    },
  };
}

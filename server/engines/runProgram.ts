import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * Runs an outside program (3D Slicer, TotalSegmentator) the way a medical queue needs it:
 * argument array and no shell (file names never reach a shell), its own process group so a
 * timeout or a cancel ends the whole tree (Slicer's launcher starts the real app as a child,
 * TotalSegmentator starts worker processes), and a rejection that says why, with the last
 * lines the program wrote to stderr.
 */

export const PROGRAM_FAILURES = ['spawn', 'exit', 'signal', 'timeout', 'cancelled'] as const;
export type ProgramFailure = (typeof PROGRAM_FAILURES)[number];

export class ProgramError extends Error {
  readonly reason: ProgramFailure;
  readonly program: string;
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  readonly stderrTail: readonly string[];
  constructor(
    message: string,
    details: {
      reason: ProgramFailure;
      program: string;
      exitCode?: number | null;
      exitSignal?: string | null;
      stderrTail?: readonly string[];
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProgramError';
    this.reason = details.reason;
    this.program = details.program;
    this.exitCode = details.exitCode ?? null;
    this.exitSignal = details.exitSignal ?? null;
    this.stderrTail = details.stderrTail ?? [];
  }
}

export interface RunProgramOptions {
  command: string;
  args: readonly string[];
  /** Name used in messages ("3D Slicer", "TotalSegmentator"). */
  label?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Stop the program after this long; 0 or undefined = no limit. */
  timeoutMs?: number;
  /** Tells the user which setting controls the limit, e.g. "SLICER_TIMEOUT_SECONDS". */
  timeoutSetting?: string;
  /** Every complete line of output. */
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** How many stderr lines the error message keeps. */
  tailLines?: number;
  /** Lines the tails (and so the error message) leave out, e.g. a progress bar's redraws. */
  omitFromTail?: (line: string) => boolean;
  /** Time between the polite stop (SIGTERM) and the forced one (SIGKILL). */
  killGraceMs?: number;
  platform?: NodeJS.Platform;
}

export interface ProgramResult {
  exitCode: number;
  durationMs: number;
  stdoutTail: string[];
  stderrTail: string[];
}

export interface TreeKillDeps {
  platform: NodeJS.Platform;
  /** process.kill */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** Starts a helper program and returns at once (taskkill on Windows). */
  launch: (command: string, args: string[]) => void;
}

const defaultTreeKillDeps: TreeKillDeps = {
  platform: process.platform,
  kill: (pid, signal) => process.kill(pid, signal),
  launch: (command, args) => {
    const child = spawn(command, args, { stdio: 'ignore', windowsHide: true, shell: false });
    child.on('error', () => {});
    child.unref();
  },
};

/**
 * Ends a process and everything it started. Windows has no process groups: `taskkill /T /F`
 * walks the tree. Elsewhere the child leads its own group (spawned detached), so signalling
 * the negative pid reaches every descendant that did not leave the group on purpose.
 * Returns false when nothing was left to kill.
 */
export function killProcessTree(
  pid: number,
  signal: NodeJS.Signals = 'SIGKILL',
  deps: TreeKillDeps = defaultTreeKillDeps,
): boolean {
  if (deps.platform === 'win32') {
    deps.launch('taskkill', ['/T', '/F', '/PID', String(pid)]);
    return true;
  }
  try {
    deps.kill(-pid, signal);
    return true;
  } catch (err) {
    if (isErrno(err) && err.code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether any process of the group led by `pid` is still alive (POSIX). */
export function processGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return isErrno(err) && err.code === 'EPERM';
  }
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Path of an executable on PATH (PATHEXT on Windows), or undefined. */
export function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  isExecutable: (path: string) => boolean = defaultIsExecutable,
): string | undefined {
  const pathSep = platform === 'win32' ? ';' : platform === process.platform ? delimiter : ':';
  const dirs = (env.PATH ?? env.Path ?? '').split(pathSep).filter((d) => d !== '');
  const exts =
    platform === 'win32'
      ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').map((e) => e.toLowerCase())]
      : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = join(dir, name + ext);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

export function defaultIsExecutable(path: string): boolean {
  try {
    accessSync(path, process.platform === 'win32' ? constants.F_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a setting value that may be a bare program name ("TotalSegmentator") or a path. */
export function resolveExecutable(nameOrPath: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isAbsolute(nameOrPath) || nameOrPath.includes('/') || nameOrPath.includes('\\')) {
    return defaultIsExecutable(nameOrPath) ? nameOrPath : undefined;
  }
  return findOnPath(nameOrPath, env);
}

/**
 * Qt programs (Slicer) need an X display on Linux even with --no-main-window. On a server with no
 * DISPLAY, `xvfb-run -a` gives them a virtual one; when xvfb-run is missing the command runs as
 * is and Slicer's own error ("could not connect to display") reaches the job log.
 */
export function withVirtualDisplay(
  command: string,
  args: readonly string[],
  opts: { platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv; xvfbRun?: string | undefined } = {},
): { command: string; args: string[]; virtualDisplay: boolean } {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const hasDisplay = Boolean(env.DISPLAY) || Boolean(env.WAYLAND_DISPLAY);
  if (platform !== 'linux' || hasDisplay) return { command, args: [...args], virtualDisplay: false };
  const xvfbRun = 'xvfbRun' in opts ? opts.xvfbRun : findOnPath('xvfb-run', env, platform);
  if (xvfbRun === undefined) return { command, args: [...args], virtualDisplay: false };
  return { command: xvfbRun, args: ['-a', '-s', '-screen 0 1280x1024x24', command, ...args], virtualDisplay: true };
}

/** Splits a byte stream into lines, keeping multi-byte characters intact across chunks. */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  constructor(private readonly emit: (line: string) => void) {}
  push(chunk: Buffer): void {
    const text = this.rest + this.decoder.write(chunk);
    const parts = text.split(/\r?\n|\r/);
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.emit(p);
  }
  end(): void {
    const text = this.rest + this.decoder.end();
    this.rest = '';
    if (text !== '') this.emit(text);
  }
}

function pushTail(tail: string[], line: string, max: number): void {
  if (line.trim() === '') return;
  tail.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
  if (tail.length > max) tail.shift();
}

function formatTail(tail: readonly string[]): string {
  return tail.length ? `\n${tail.join('\n')}` : '';
}

export function runProgram(opts: RunProgramOptions): Promise<ProgramResult> {
  const label = opts.label ?? opts.command;
  const tailMax = opts.tailLines ?? 20;
  const grace = opts.killGraceMs ?? 5000;
  const platform = opts.platform ?? process.platform;
  const treeKillDeps: TreeKillDeps = { ...defaultTreeKillDeps, platform };

  return new Promise<ProgramResult>((resolvePromise, rejectPromise) => {
    if (opts.signal?.aborted) {
      rejectPromise(
        new ProgramError(`${label} was not started: the job was cancelled`, {
          reason: 'cancelled',
          program: label,
          cause: opts.signal.reason,
        }),
      );
      return;
    }
    const started = Date.now();
    const stdoutTail: string[] = [];
    const stderrTail: string[] = [];
    let stopReason: 'timeout' | 'cancelled' | undefined;
    let settled = false;
    let forceTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;

    let child: ChildProcess;
    try {
      child = spawn(opts.command, [...opts.args], {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        shell: false,
        detached: platform !== 'win32',
        windowsHide: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      rejectPromise(
        new ProgramError(
          `could not start ${label} (${opts.command}): ${err instanceof Error ? err.message : String(err)}`,
          { reason: 'spawn', program: label, cause: err },
        ),
      );
      return;
    }

    const keep = (line: string): boolean => !opts.omitFromTail?.(line);
    const outLines = new LineSplitter((line) => {
      if (keep(line)) pushTail(stdoutTail, line, tailMax);
      opts.onLine?.('stdout', line);
    });
    const errLines = new LineSplitter((line) => {
      if (keep(line)) pushTail(stderrTail, line, tailMax);
      opts.onLine?.('stderr', line);
    });
    child.stdout?.on('data', (c: Buffer) => outLines.push(c));
    child.stderr?.on('data', (c: Buffer) => errLines.push(c));

    const cleanup = (): void => {
      if (timeoutTimer) clearTimeout(timeoutTimer);
      if (forceTimer) clearTimeout(forceTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    };

    const stop = (why: 'timeout' | 'cancelled'): void => {
      if (stopReason || child.pid === undefined) return;
      stopReason = why;
      if (platform === 'win32') {
        killProcessTree(child.pid, 'SIGKILL', treeKillDeps);
        return;
      }
      killProcessTree(child.pid, 'SIGTERM', treeKillDeps);
      const pid = child.pid;
      forceTimer = setTimeout(() => killProcessTree(pid, 'SIGKILL', treeKillDeps), grace);
      forceTimer.unref();
    };

    const onAbort = (): void => stop('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      timeoutTimer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    }

    child.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      cleanup();
      const hint =
        err.code === 'ENOENT'
          ? 'the program was not found'
          : err.code === 'EACCES'
            ? 'the file is not executable'
            : err.message;
      rejectPromise(
        new ProgramError(`could not start ${label} (${opts.command}): ${hint}`, {
          reason: 'spawn',
          program: label,
          cause: err,
        }),
      );
    });

    child.on('exit', () => {
      // The program is gone but helpers it started may not be (Slicer's launcher, worker pools);
      // they share its group and must not outlive the job.
      if (platform !== 'win32' && child.pid !== undefined) {
        try {
          killProcessTree(child.pid, 'SIGKILL', treeKillDeps);
        } catch {
          // EPERM: nothing of ours left to end
        }
      }
    });

    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      cleanup();
      outLines.end();
      errLines.end();
      const durationMs = Date.now() - started;
      const base = { program: label, exitCode: code, exitSignal: sig, stderrTail: [...stderrTail] };
      if (stopReason === 'timeout') {
        const secs = Math.round((opts.timeoutMs ?? 0) / 1000);
        const setting = opts.timeoutSetting ? ` (${opts.timeoutSetting})` : '';
        rejectPromise(
          new ProgramError(
            `${label} did not finish within ${secs} s${setting} and was stopped${formatTail(stderrTail)}`,
            { ...base, reason: 'timeout' },
          ),
        );
      } else if (stopReason === 'cancelled') {
        rejectPromise(
          new ProgramError(`${label} was stopped: the job was cancelled`, {
            ...base,
            reason: 'cancelled',
            cause: opts.signal?.reason,
          }),
        );
      } else if (code === 0) {
        resolvePromise({ exitCode: 0, durationMs, stdoutTail, stderrTail });
      } else if (code !== null) {
        rejectPromise(
          new ProgramError(`${label} failed with exit code ${code}${formatTail(stderrTail)}`, {
            ...base,
            reason: 'exit',
          }),
        );
      } else {
        rejectPromise(
          new ProgramError(`${label} was killed by signal ${sig ?? 'unknown'}${formatTail(stderrTail)}`, {
            ...base,
            reason: 'signal',
          }),
        );
      }
    });
  });
}

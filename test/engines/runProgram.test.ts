import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ProgramError,
  findOnPath,
  killProcessTree,
  processGroupAlive,
  runProgram,
  withVirtualDisplay,
  type TreeKillDeps,
} from '../../server/engines/runProgram.ts';

const posix = process.platform !== 'win32';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A program that starts a grandchild, records both pids, then hangs forever (ignoring SIGTERM). */
const HANG = [
  '-c',
  [
    'import os, signal, subprocess, sys, time',
    'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
    'child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])',
    'open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")',
    'print("started", flush=True)',
    'time.sleep(600)',
  ].join('\n'),
];

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

test('runProgram passes arguments verbatim (no shell) and delivers output lines', async () => {
  const lines: string[] = [];
  const tricky = 'a b; echo pwned $(id) "q" ü';
  const result = await runProgram({
    command: 'python3',
    args: ['-c', 'import sys; print(sys.argv[1]); print("second", file=sys.stderr)', tricky],
    onLine: (stream, line) => lines.push(`${stream}:${line}`),
  });
  assert.equal(result.exitCode, 0);
  assert.deepEqual(lines.sort(), [`stderr:second`, `stdout:${tricky}`].sort());
});

test('runProgram rejects with exit code and the last stderr lines', async () => {
  const err = await runProgram({
    command: 'python3',
    label: 'Tool',
    args: ['-c', 'import sys\nfor i in range(30): print(f"line {i}", file=sys.stderr)\nsys.exit(7)'],
    tailLines: 3,
  }).catch((e: unknown) => e);
  assert.ok(err instanceof ProgramError);
  assert.equal(err.reason, 'exit');
  assert.equal(err.exitCode, 7);
  assert.deepEqual(err.stderrTail, ['line 27', 'line 28', 'line 29']);
  assert.match(err.message, /^Tool failed with exit code 7\nline 27\nline 28\nline 29$/);
});

test('runProgram names a missing program', async () => {
  const err = await runProgram({ command: '/nonexistent/Slicer', args: [], label: '3D Slicer' }).catch(
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProgramError);
  assert.equal(err.reason, 'spawn');
  assert.match(err.message, /could not start 3D Slicer \(\/nonexistent\/Slicer\): the program was not found/);
});

test('runProgram does not start when already cancelled', async () => {
  const ac = new AbortController();
  ac.abort();
  const err = await runProgram({ command: 'python3', args: ['-c', 'pass'], signal: ac.signal }).catch(
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProgramError);
  assert.equal(err.reason, 'cancelled');
});

for (const how of ['timeout', 'cancel'] as const) {
  test(
    `runProgram ${how} ends a hung program and its whole process tree`,
    { skip: !posix && 'POSIX process groups' },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'runprog-'));
      try {
        const pidFile = join(dir, 'pids');
        const ac = new AbortController();
        let leaderPid = 0;
        const started = Date.now();
        const run = runProgram({
          command: 'python3',
          args: [...HANG, pidFile],
          label: 'Hang',
          timeoutMs: how === 'timeout' ? 4000 : undefined,
          timeoutSetting: 'SLICER_TIMEOUT_SECONDS',
          killGraceMs: 500,
          signal: ac.signal,
          onLine: (_s, line) => {
            if (line === 'started') {
              leaderPid = Number(readFileSync(pidFile, 'utf8').split(' ')[0]);
              if (how === 'cancel') ac.abort(new Error('cancelled by user'));
            }
          },
        });
        const err = await run.catch((e: unknown) => e);
        assert.ok(err instanceof ProgramError);
        assert.ok(Date.now() - started < 10_000, 'stopped within seconds');
        if (how === 'timeout') {
          assert.equal(err.reason, 'timeout');
          assert.match(err.message, /Hang did not finish within 4 s \(SLICER_TIMEOUT_SECONDS\) and was stopped/);
        } else {
          assert.equal(err.reason, 'cancelled');
          assert.match(err.message, /cancelled/);
        }
        const [, grandchild] = readFileSync(pidFile, 'utf8').split(' ').map(Number);
        assert.ok(leaderPid > 0);
        assert.ok(
          await waitFor(() => !processGroupAlive(leaderPid) && !pidAlive(grandchild!), 3000),
          'no process of the tree survives',
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test('killProcessTree uses taskkill /T /F on Windows and the process group elsewhere', () => {
  const calls: string[] = [];
  const deps = (platform: NodeJS.Platform, killErr?: string): TreeKillDeps => ({
    platform,
    kill: (pid, sig) => {
      if (killErr) throw Object.assign(new Error(killErr), { code: killErr });
      calls.push(`kill ${pid} ${sig}`);
    },
    launch: (cmd, args) => calls.push(`${cmd} ${args.join(' ')}`),
  });
  assert.equal(killProcessTree(1234, 'SIGKILL', deps('win32')), true);
  assert.equal(killProcessTree(1234, 'SIGTERM', deps('linux')), true);
  assert.equal(killProcessTree(99, 'SIGKILL', deps('darwin')), true);
  assert.deepEqual(calls, ['taskkill /T /F /PID 1234', 'kill -1234 SIGTERM', 'kill -99 SIGKILL']);
  assert.equal(killProcessTree(5, 'SIGKILL', deps('linux', 'ESRCH')), false);
  assert.throws(() => killProcessTree(5, 'SIGKILL', deps('linux', 'EPERM')), /EPERM/);
});

test('withVirtualDisplay wraps in xvfb-run -a only on Linux without a display', () => {
  const noDisplay = { PATH: '/usr/bin' };
  assert.deepEqual(
    withVirtualDisplay('/opt/Slicer/Slicer', ['--x'], {
      platform: 'linux',
      env: noDisplay,
      xvfbRun: '/usr/bin/xvfb-run',
    }),
    {
      command: '/usr/bin/xvfb-run',
      args: ['-a', '-s', '-screen 0 1280x1024x24', '/opt/Slicer/Slicer', '--x'],
      virtualDisplay: true,
    },
  );
  assert.equal(
    withVirtualDisplay('S', [], { platform: 'linux', env: { DISPLAY: ':0' }, xvfbRun: '/usr/bin/xvfb-run' })
      .virtualDisplay,
    false,
  );
  assert.equal(withVirtualDisplay('S', [], { platform: 'linux', env: noDisplay, xvfbRun: undefined }).command, 'S');
  assert.equal(withVirtualDisplay('S', [], { platform: 'win32', env: {}, xvfbRun: 'x' }).command, 'S');
  assert.equal(withVirtualDisplay('S', [], { platform: 'darwin', env: {}, xvfbRun: 'x' }).command, 'S');
});

test('findOnPath honours PATHEXT on Windows', () => {
  const present = new Set([join('C:\\Tools', 'TotalSegmentator.exe'), join('/usr/local/bin', 'xvfb-run')]);
  const exists = (p: string): boolean => present.has(p);
  assert.equal(
    findOnPath('TotalSegmentator', { Path: 'C:\\Python;C:\\Tools', PATHEXT: '.COM;.EXE' }, 'win32', exists),
    join('C:\\Tools', 'TotalSegmentator.exe'),
  );
  assert.equal(
    findOnPath('xvfb-run', { PATH: '/usr/bin:/usr/local/bin' }, 'linux', exists),
    join('/usr/local/bin', 'xvfb-run'),
  );
  assert.equal(findOnPath('missing', { PATH: '/usr/bin' }, 'linux', exists), undefined);
});

import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { posix, win32 } from 'node:path';
import { defaultIsExecutable } from '../runProgram.ts';

/**
 * Where 3D Slicer installs itself when SLICER_PATH is unset, newest version first:
 * - Windows: per-user `%LOCALAPPDATA%\slicer.org\Slicer x.y.z\Slicer.exe` (the installer's default),
 *   all-users `%ProgramFiles%\slicer.org\Slicer x.y.z\Slicer.exe`;
 * - macOS: `/Applications/Slicer.app/Contents/MacOS/Slicer` (also versioned app names, ~/Applications);
 * - Linux: the unpacked `Slicer-x.y.z-linux-amd64/Slicer` folders under ~, /opt, /usr/local.
 * File system access and the platform are injected so every system's rules are tested on any system.
 */

export interface DiscoveryDeps {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  home: string;
  listDir(path: string): string[];
  isExecutable(path: string): boolean;
}

export const defaultDiscoveryDeps: DiscoveryDeps = {
  platform: process.platform,
  env: process.env,
  home: homedir(),
  listDir: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  isExecutable: defaultIsExecutable,
};

function versionOf(name: string): number[] | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(name);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Newest first; names without a version after all versioned ones, in the order found. */
function byVersionDesc(a: { version: number[] | null }, b: { version: number[] | null }): number {
  if (!a.version || !b.version) return (a.version ? 0 : 1) - (b.version ? 0 : 1);
  for (let i = 0; i < 3; i++) if (a.version[i] !== b.version[i]) return b.version[i]! - a.version[i]!;
  return 0;
}

/** Every place Slicer could be, existing or not, newest version first. */
export function slicerCandidates(deps: DiscoveryDeps = defaultDiscoveryDeps): string[] {
  const found: Array<{ path: string; version: number[] | null }> = [];
  if (deps.platform === 'win32') {
    const roots = [deps.env.LOCALAPPDATA, deps.env.ProgramFiles, deps.env.ProgramW6432]
      .filter((r): r is string => Boolean(r))
      .map((r) => win32.join(r, 'slicer.org'));
    for (const root of [...new Set(roots)]) {
      for (const entry of deps.listDir(root)) {
        if (/^Slicer\b/i.test(entry))
          found.push({ path: win32.join(root, entry, 'Slicer.exe'), version: versionOf(entry) });
      }
    }
  } else if (deps.platform === 'darwin') {
    for (const root of ['/Applications', posix.join(deps.home, 'Applications')]) {
      for (const entry of deps.listDir(root)) {
        if (/^Slicer.*\.app$/i.test(entry))
          found.push({ path: posix.join(root, entry, 'Contents/MacOS/Slicer'), version: versionOf(entry) });
      }
    }
  } else {
    for (const root of [
      deps.home,
      posix.join(deps.home, 'Applications'),
      posix.join(deps.home, '.local/opt'),
      '/opt',
      '/usr/local',
    ]) {
      for (const entry of deps.listDir(root)) {
        if (/^Slicer-\d/i.test(entry))
          found.push({ path: posix.join(root, entry, 'Slicer'), version: versionOf(entry) });
      }
    }
  }
  return found.sort(byVersionDesc).map((f) => f.path);
}

/** The newest installed Slicer, or undefined. */
export function discoverSlicer(deps: DiscoveryDeps = defaultDiscoveryDeps): string | undefined {
  return slicerCandidates(deps).find((p) => deps.isExecutable(p));
}

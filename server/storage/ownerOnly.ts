import { chmod, lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Everything under DATA_DIR holds patient data or secrets (instances, results, the embedded database and its
 * WAL, keys), so it is for the server's own user only: files 0600, folders 0700. The process umask makes new
 * files so whatever the umask it was started with; this finds and narrows what is already looser (a DATA_DIR
 * made by hand, files from an older version, a copy restored from a backup).
 */

export const OWNER_ONLY_UMASK = 0o077;

export interface LooseFile {
  path: string;
  /** Permission bits as found (e.g. 0o644). */
  mode: number;
}

export interface OwnerOnlyReport {
  checked: number;
  /** Files and folders that were open to group or others; each has been narrowed to owner-only. */
  narrowed: LooseFile[];
  /** Entries whose mode could not be changed (not ours, or gone meanwhile). */
  failed: number;
}

/** Walks `root` (not following symbolic links) and takes group and others' bits off whatever has them. */
export async function makeOwnerOnly(root: string): Promise<OwnerOnlyReport> {
  const report: OwnerOnlyReport = { checked: 0, narrowed: [], failed: 0 };
  const visit = async (path: string): Promise<void> => {
    const info = await lstat(path).catch(() => undefined);
    if (!info || info.isSymbolicLink()) return;
    report.checked += 1;
    const mode = info.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      try {
        // The owner's own bits stay as they were (a read-only file stays read-only).
        await chmod(path, mode & 0o700);
        report.narrowed.push({ path, mode });
      } catch {
        report.failed += 1;
      }
    }
    if (!info.isDirectory()) return;
    const dir = await opendir(path).catch(() => undefined);
    if (!dir) return;
    for await (const entry of dir) await visit(join(path, entry.name));
  };
  await visit(root);
  return report;
}

/** One line for the log: how many were narrowed, with a few examples (paths under DATA_DIR, modes in octal). */
export function describeNarrowed(report: OwnerOnlyReport, root: string, examples = 5): string {
  const shown = report.narrowed
    .slice(0, examples)
    .map((f) => `${f.path.startsWith(root) ? f.path.slice(root.length + 1) || '.' : f.path} (${f.mode.toString(8)})`);
  const more = report.narrowed.length > examples ? `, and ${report.narrowed.length - examples} more` : '';
  return `${report.narrowed.length} file(s) or folder(s) in DATA_DIR were readable or writable by other users and are now owner-only: ${shown.join(', ')}${more}`;
}

import { execFile } from 'node:child_process';
import { hasProgram } from './requirements.ts';

/** dciodvfy from David Clunie's dicom3tools (Debian: dicom3tools): checks a file against its IOD. */
export function hasDciodvfy(): boolean {
  return hasProgram('dciodvfy');
}

export interface DciodvfyReport {
  errors: string[];
  warnings: string[];
  output: string;
}

/** Runs dciodvfy on a file; its report goes to stderr, one "Error -" or "Warning -" line per finding. */
export async function dciodvfy(file: string): Promise<DciodvfyReport> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile('dciodvfy', ['-new', file], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      // Exit status is non-zero when it found errors; the report is what matters.
      if (err && !stderr && !stdout) reject(err);
      else resolve(`${stdout}${stderr}`);
    });
  });
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return {
    errors: lines.filter((l) => l.startsWith('Error')),
    warnings: lines.filter((l) => l.startsWith('Warning')),
    output,
  };
}

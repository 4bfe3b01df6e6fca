import { execFile } from 'node:child_process';

export interface DcmtkResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a DCMTK program (echoscu, storescu) against the SCP. TCP_NODELAY=1 makes DCMTK disable
 * Nagle on its side: Debian's build leaves it on by default, and a sender with Nagle on waits for
 * our delayed ACK (~40 ms) before every C-STORE (see bench/cstore.bench.ts).
 */
export function dcmtk(program: string, args: string[], timeoutMs = 50_000): Promise<DcmtkResult> {
  return new Promise((resolve) => {
    execFile(
      program,
      args,
      { env: { ...process.env, TCP_NODELAY: '1' }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

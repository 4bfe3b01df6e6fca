import { createHash } from 'node:crypto';
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, realpathSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One process at a time opens the embedded database of a DATA_DIR: PGlite has no locking of its own, and two
 * processes writing one cluster corrupt it. The lock is a Unix socket the holder listens on, so the kernel
 * releases it when the holder dies (no stale pid files), and the same socket lets a `users` command ask a
 * running server to do its work instead of opening the database beside it.
 */

/** Who holds the lock, as the holder tells it. */
export interface LockHolder {
  pid: number;
  command: string;
}

/** A request a second process sends to the holder; the holder answers with output lines and an exit code. */
export interface LockRequest {
  command: 'users';
  args: string[];
}

export type LockRequestHandler = (request: LockRequest, out: (line: string) => void) => Promise<number>;

export interface DataDirLock {
  /** Serve requests from second processes (until then they are told the holder is not ready). */
  onRequest(handler: LockRequestHandler): void;
  close(): Promise<void>;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `DATA_DIR: ${dataDir} is in use by ${holder ? `anatomy-gateway ${holder.command} (pid ${holder.pid})` : 'another anatomy-gateway process'}; ` +
        'one process at a time opens its embedded database (stop it first, or set DATABASE_URL for several processes)',
    );
  }
}

/** Unix socket paths are limited to 107 bytes; a deep DATA_DIR gets its socket in a private folder under tmp. */
const MAX_SOCKET_PATH = 100;

export function lockSocketPath(dataDir: string): string {
  const direct = join(dataDir, 'gateway.sock');
  if (Buffer.byteLength(direct) <= MAX_SOCKET_PATH) return direct;
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `anatomy-gateway-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const s = lstatSync(dir);
  // Another user could have made the folder first to catch our requests.
  if (!s.isDirectory() || s.uid !== uid || (s.mode & 0o077) !== 0) {
    throw new Error(`${dir} must be a folder owned by this user and closed to others`);
  }
  const key = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 24);
  return join(dir, `${key}.sock`);
}

type Message =
  | { op: 'who' }
  | { op: 'request'; request: LockRequest }
  | { line: string }
  | { exit: number }
  | ({ holder: true } & LockHolder);

function send(socket: Socket, message: Message): void {
  socket.write(`${JSON.stringify(message)}\n`);
}

/** Newline-delimited JSON messages from a socket. */
function onMessages(socket: Socket, handle: (m: Message) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        handle(JSON.parse(line) as Message);
      } catch {
        socket.destroy();
      }
    }
  });
}

function listen(server: Server, path: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException): void => resolve(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve(undefined);
    });
  });
}

/** Asks whoever listens on `path` who it is; undefined when nobody answers (a socket left by a dead process). */
function askWho(path: string): Promise<LockHolder | 'nobody' | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, 2000);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'nobody' : undefined);
    });
    socket.once('connect', () => send(socket, { op: 'who' }));
    onMessages(socket, (m) => {
      if ('holder' in m) {
        clearTimeout(timer);
        socket.end();
        resolve({ pid: m.pid, command: m.command });
      }
    });
  });
}

/** An exclusive file for replacing a dead socket; one left by a process that died doing so expires after 10 s. */
function takeCleanupTurn(file: string): boolean {
  try {
    closeSync(openSync(file, 'wx', 0o600));
    return true;
  } catch {
    const age = Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age > 10_000) rmSync(file, { force: true });
    return false;
  }
}

/**
 * Takes the lock of `dataDir` for this process (`command` is what it tells a second process), or throws
 * DataDirInUseError naming the holder.
 */
export async function acquireDataDirLock(dataDir: string, command: string): Promise<DataDirLock> {
  const path = lockSocketPath(dataDir);
  let handler: LockRequestHandler | undefined;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onMessages(socket, (m) => {
      if ('op' in m && m.op === 'who') send(socket, { holder: true, pid: process.pid, command });
      if (!('op' in m) || m.op !== 'request') return;
      if (!handler || m.request.command !== 'users' || !Array.isArray(m.request.args)) {
        send(socket, { line: `anatomy-gateway: the ${command} process holding ${dataDir} cannot do that now` });
        send(socket, { exit: 1 });
        socket.end();
        return;
      }
      handler(m.request, (line) => send(socket, { line })).then(
        (exit) => {
          send(socket, { exit });
          socket.end();
        },
        (err: unknown) => {
          send(socket, { line: `anatomy-gateway: ${(err as Error).message.split('\n')[0]}` });
          send(socket, { exit: 1 });
          socket.end();
        },
      );
    });
  });
  for (let attempt = 0; ; attempt++) {
    const err = await listen(server, path);
    if (!err) break;
    if (err.code !== 'EADDRINUSE' || attempt > 20) throw err;
    const holder = await askWho(path);
    if (holder !== 'nobody') throw new DataDirInUseError(dataDir, holder);
    // The socket file of a process that is gone: nobody listens, so it can be replaced. Two processes starting
    // together after a crash must not both replace it (the second would unlink the first one's new socket), so the
    // replacement is done under a short-lived exclusive file; whoever does not get it tries again.
    if (!takeCleanupTurn(`${path}.replacing`)) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    try {
      if ((await askWho(path)) === 'nobody') rmSync(path, { force: true });
      const retry = await listen(server, path);
      if (!retry) break;
      if (retry.code !== 'EADDRINUSE') throw retry;
    } finally {
      rmSync(`${path}.replacing`, { force: true });
    }
  }
  chmodSync(path, 0o600);
  return {
    onRequest(h) {
      handler = h;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Sends `request` to the process holding `dataDir` and passes its output lines to `out`; resolves with its exit
 * code, or undefined when no process holds it.
 */
export function askLockHolder(
  dataDir: string,
  request: LockRequest,
  out: (line: string) => void,
): Promise<number | undefined> {
  const path = lockSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let exit: number | undefined;
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(undefined);
      else reject(err);
    });
    socket.once('connect', () => send(socket, { op: 'request', request }));
    onMessages(socket, (m) => {
      if ('line' in m) out(m.line);
      if ('exit' in m) exit = m.exit;
    });
    socket.once('close', () => {
      if (exit === undefined) reject(new Error('the running server closed the connection without an answer'));
      else resolve(exit);
    });
  });
}

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { helpText, parseArgs, UsageError } from './cli.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { openDatabase } from './db/open.ts';
import { buildContext } from './app/buildContext.ts';
import type { ChosenEngine } from './engines/engine.ts';
import { taskList } from './app/tasks.ts';
import { createApp } from './http/app.ts';
import { guardHttpServer } from './http/connectionGuards.ts';
import { Worker } from './jobs/worker.ts';
import { createLogger, type Logger } from './log.ts';
import { tuneHeapGrowth } from './heapTuning.ts';
import { runDoctor } from './engines/doctor.ts';
import { EngineUnavailableError, resolveEngine } from './engines/registry.ts';
import { startDimseServer } from './dimse/scp.ts';
import { readDimseTls, readTlsFiles, type DimseTlsMaterial } from './dimse/tlsFiles.ts';
import { ensureFirstAdmin } from './auth/firstAdmin.ts';
import { runUsersCommand } from './auth/usersCommand.ts';
import { scheduleRetentionSweep } from './retention/sweepRetention.ts';
import { OWNER_ONLY_UMASK } from './storage/ownerOnly.ts';
import { startupHousekeeping } from './app/startupHousekeeping.ts';
import { relayJobChanges } from './app/relayJobChanges.ts';
import { acquireDataDirLock, askLockHolder, DataDirInUseError, type DataDirLock } from './db/dataDirLock.ts';
import { listenOrExplain, openPageLine } from './http/listen.ts';

/** How long a running job may take to finish on SIGTERM before it is aborted and handed back to the queue. */
const SHUTDOWN_GRACE_MS = 20_000;
/** The process ends by then whatever is still running (under the usual 30 s before a supervisor's SIGKILL). */
const SHUTDOWN_EXIT_MS = SHUTDOWN_GRACE_MS + 5_000;

export interface MainOptions {
  /** `serve` only: run once the settings are good, DATA_DIR is ours and the port bound, before the database opens. */
  prepare?: () => Promise<void>;
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: MainOptions = {},
): Promise<number> {
  let parsed;
  let config: Readonly<Config>;
  let dimseTls: DimseTlsMaterial | undefined;
  let httpsTls: DimseTlsMaterial | undefined;
  try {
    parsed = parseArgs(argv);
    if (parsed.command === 'help') {
      process.stdout.write(helpText());
      return 0;
    }
    config = loadConfig({ ...env, ...parsed.env });
    // Read before the database opens, so a wrong DIMSE_TLS_* file stops the start with one line.
    if (parsed.command === 'serve' && config.dimseTls) dimseTls = readDimseTls(config.dimseTls);
    if (parsed.command === 'serve' && config.tlsCert && config.tlsKey) {
      httpsTls = readTlsFiles('TLS', { cert: config.tlsCert, key: config.tlsKey, ca: undefined });
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`anatomy-gateway: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, undefined, { human: process.stdout.isTTY === true });

  if (parsed.command === 'worker' && !config.databaseUrl) {
    process.stderr.write(
      'anatomy-gateway: DATABASE_URL: `worker` needs a shared PostgreSQL; the embedded database belongs to one `serve` process\n',
    );
    return 2;
  }

  if (parsed.command === 'doctor') {
    return runDoctor(config, (line) => process.stdout.write(`${line}\n`));
  }

  if (parsed.command === 'serve' || parsed.command === 'worker') tuneHeapGrowth();

  // Whatever umask we were started with, everything we (and the embedded database, and engines we start) write under
  // DATA_DIR is for this user only: it is patient data.
  process.umask(OWNER_ONLY_UMASK);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  let lock: DataDirLock | undefined;
  if (!config.databaseUrl) {
    try {
      // A running server does account work itself: a second process must not open its embedded database.
      if (parsed.command === 'users') {
        const code = await askLockHolder(config.dataDir, { command: 'users', args: parsed.args ?? [] }, print);
        if (code !== undefined) return code;
      }
      lock = await acquireDataDirLock(config.dataDir, parsed.command);
    } catch (err) {
      process.stderr.write(
        `anatomy-gateway: ${err instanceof DataDirInUseError ? err.message : `DATA_DIR: ${(err as Error).message.split('\n')[0]}`}\n`,
      );
      return 1;
    }
  }
  const release = async (): Promise<void> => {
    await lock?.close();
  };

  let server: Server | undefined;
  if (parsed.command === 'serve') {
    const listening = await listenOrExplain(config, httpsTls);
    if (!listening.ok) {
      process.stderr.write(`anatomy-gateway: ${listening.message}\n`);
      await release();
      return 1;
    }
    server = listening.server;
    await options.prepare?.();
  }

  let db: Database;
  try {
    db = await openDatabase(config, logger);
    await migrate(db, logger);
  } catch (err) {
    process.stderr.write(`anatomy-gateway: DATABASE_URL: ${(err as Error).message.split('\n')[0]}\n`);
    server?.close();
    await release();
    return 1;
  }

  if (parsed.command === 'users') {
    const code = await runUsersCommand({ db, logger }, parsed.args ?? [], print);
    await db.close();
    await release();
    return code;
  }
  if (parsed.command === 'migrate') {
    await db.close();
    await release();
    logger.info('migrations are up to date');
    return 0;
  }
  // Account work asked for by `users` while this process holds the embedded database.
  lock?.onRequest((request, out) => runUsersCommand({ db, logger }, request.args, out));
  const code = await run(parsed.command, config, db, logger, { dimse: dimseTls, https: httpsTls }, server);
  await release();
  return code;
}

async function run(
  command: 'serve' | 'worker',
  config: Readonly<Config>,
  db: Database,
  logger: Logger,
  tls: { dimse?: DimseTlsMaterial; https?: DimseTlsMaterial },
  bound: Server | undefined,
): Promise<number> {
  const dimseTls = tls.dimse;
  if (!config.auth) logger.warn('AUTH=off: anyone who can reach this server can upload, read and download scans');
  else if (command === 'serve') await ensureFirstAdmin({ db, logger, dataDir: config.dataDir });
  let engine: ChosenEngine | undefined;
  if (config.workerConcurrency > 0) {
    try {
      engine = await resolveEngine(config, logger);
      logger.info({ engine: engine.engine.name }, `engine: ${engine.reason}`);
    } catch (err) {
      if (!(err instanceof EngineUnavailableError)) throw err;
      process.stderr.write(`anatomy-gateway: ENGINE: ${err.message.split('\n')[0]}\n`);
      bound?.close();
      await db.close();
      return 1;
    }
  }
  const ctx = buildContext({ config, db, logger, engine });
  const { queue, events, runtime } = ctx;

  const worker = engine
    ? new Worker({
        db,
        queue,
        tasks: taskList({ ...ctx, engine }),
        logger,
        concurrency: config.workerConcurrency,
        leaseSeconds: config.jobLeaseSeconds,
      })
    : undefined;
  if (worker) runtime.worker = worker;
  if (command === 'worker' && !worker) {
    logger.error('WORKER_CONCURRENCY=0 leaves a worker process nothing to do');
    await db.close();
    return 2;
  }

  let server: Server | undefined;
  const closers: Array<() => Promise<void>> = [];
  if (command === 'serve') {
    // Anything a crash left half-written in DATA_DIR/tmp was never acknowledged to a sender.
    const cleaned = await ctx.storage.staging.clean();
    if (cleaned > 0) logger.info({ files: cleaned }, 'removed unacknowledged temp files left by an earlier run');
    // The retention sweep is one keyed job that re-arms itself; this runs a sweep now and restarts a broken chain.
    await scheduleRetentionSweep(queue);
    // In the background: a large DATA_DIR takes a while to walk, and nothing found there blocks serving.
    void startupHousekeeping(ctx);

    closers.push(await relayJobChanges(db, events));

    // The port was bound before the database opened (a busy port stops the start first); the app takes over now.
    const s = bound as Server;
    s.removeAllListeners('request');
    s.on('request', createApp(ctx).callback());
    guardHttpServer(s, config, logger);
    server = s;
    const address = s.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ host: config.host, port, tls: Boolean(config.tlsCert), database: db.driver }, 'listening');
    logger.info(openPageLine(config, port));

    if (config.dimsePort !== undefined) {
      const dimse = await startDimseServer(ctx, { tls: dimseTls });
      closers.push(() => dimse.close());
      logger.info(
        { port: dimse.port, aeTitle: config.aeTitle, tls: Boolean(dimseTls) },
        'DIMSE C-STORE/C-ECHO listening',
      );
    }
  }
  await worker?.start();
  if (worker) logger.info({ concurrency: config.workerConcurrency, kinds: worker.kinds }, 'worker started');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      // Whatever still holds the loop (a request being stored, a stuck close) must not outlive the grace period:
      // nothing unanswered was acknowledged, and a supervisor's SIGKILL would come anyway.
      setTimeout(() => {
        logger.error({ graceMs: SHUTDOWN_EXIT_MS }, 'shutdown took longer than its grace period; exiting now');
        process.exit(1);
      }, SHUTDOWN_EXIT_MS).unref();
      void (async () => {
        const httpClosed = server
          ? new Promise<void>((r) => {
              server.close(() => r());
              // Server-Sent Events streams never end by themselves.
              setTimeout(() => server.closeAllConnections(), 2000).unref();
            })
          : Promise.resolve();
        await worker?.stop(SHUTDOWN_GRACE_MS);
        for (const close of closers) await close().catch(() => undefined);
        await httpClosed;
        await db.close();
        logger.info('stopped');
        resolve(0);
      })();
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}

/** Runs `main` as the process: its exit code, or a stack trace for what nobody foresaw. */
export function runAsProcess(options: MainOptions = {}): void {
  main(process.argv.slice(2), process.env, options).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`anatomy-gateway: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

if (import.meta.url === `file://${process.argv[1]}`) runAsProcess();

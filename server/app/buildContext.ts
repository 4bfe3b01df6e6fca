import { createAuthServices } from '../auth/services.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { Events } from '../events.ts';
import { IndexCommits, type IndexCommitsTuning } from '../ingest/indexCommits.ts';
import { Queue, type QueueOptions } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import { LocalStorage } from '../storage/localStorage.ts';
import type { ChosenEngine } from '../engines/engine.ts';
import type { AppContext } from './context.ts';

export interface ContextOptions {
  config: Readonly<Config>;
  db: Database;
  logger: Logger;
  engine?: ChosenEngine;
  queue?: QueueOptions;
  indexCommits?: Partial<IndexCommitsTuning>;
  webDist?: string;
  viewerDist?: string;
}

/** The composition root: every long-lived service of a process, made once, from the settings. */
export function buildContext(options: ContextOptions): AppContext {
  const { config, db, logger } = options;
  const queue = new Queue(db, options.queue);
  return {
    config,
    db,
    logger,
    queue,
    events: new Events(),
    storage: new LocalStorage(config.dataDir),
    indexCommits: new IndexCommits({ config, db, queue }, options.indexCommits),
    auth: createAuthServices(db, config),
    ...(options.engine ? { engine: options.engine } : {}),
    runtime: { startedAt: new Date() },
    ...(options.webDist ? { webDist: options.webDist } : {}),
    ...(options.viewerDist ? { viewerDist: options.viewerDist } : {}),
  };
}

import type { AuthServices } from '../auth/services.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { ChosenEngine } from '../engines/engine.ts';
import type { Events } from '../events.ts';
import type { IndexCommits } from '../ingest/indexCommits.ts';
import type { Queue } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';

/**
 * Everything a process is made of, built once (buildContext.ts) and handed down. Rooms below take only the parts
 * they use, each declaring them in its own deps type; this object satisfies them all.
 */
export interface AppContext {
  config: Readonly<Config>;
  db: Database;
  logger: Logger;
  queue: Queue;
  /** In-process bus feeding Server-Sent Events and the UI's live queue. */
  events: Events;
  /** Where instances, volumes and results live (server/storage/). */
  storage: Storage;
  /** Group commit of the DICOM index rows, one per process. */
  indexCommits: IndexCommits;
  auth: AuthServices;
  /** The segmentation engine, chosen once at start where this process runs jobs. */
  engine?: ChosenEngine;
  runtime: RuntimeInfo;
  /** Where the built pages are (default dist/web); browser tests build their own so parallel runs do not clash. */
  webDist?: string;
  /** The OHIF viewer's dist/ folder (default: where scripts/install-viewer.ts puts it). */
  viewerDist?: string;
}

/** What the serve process knows about itself, for /healthz. */
export interface RuntimeInfo {
  startedAt: Date;
  /** The in-process worker, when this process runs one. */
  worker?: { status(): { alive: boolean; running: number; concurrency: number; lastLoopAt: Date | null } };
}

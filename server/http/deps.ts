import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { Queue } from '../jobs/queue.ts';
import type { Events } from '../events.ts';
import type { Engine } from '../engines/engine.ts';

/** What the serve process knows about itself, for /healthz. */
export interface RuntimeInfo {
  startedAt: Date;
  /** The in-process worker, when this process runs one. */
  worker?: { status(): { alive: boolean; running: number; concurrency: number; lastLoopAt: Date | null } };
  /** The segmentation engine chosen at start and why (shown by /healthz). */
  engine?: { name: string; reason: string };
  /** The same choice, for the process task, so the engine is probed once per process. */
  resolvedEngine?: { engine: Engine; reason: string };
}

/** What every route module receives. Built once in main.ts (or by a test) and passed to createApp. */
export interface AppDeps {
  config: Readonly<Config>;
  db: Database;
  logger: Logger;
  queue: Queue;
  /** In-process bus feeding Server-Sent Events and the UI's live queue. */
  events: Events;
  runtime?: RuntimeInfo;
  /** Where the built pages are (default dist/web); browser tests build their own so parallel runs do not clash. */
  webDist?: string;
  /** The OHIF viewer's dist/ folder (default: where scripts/install-viewer.ts puts it). */
  viewerDist?: string;
}

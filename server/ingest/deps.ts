import type { Database } from '../db/database.ts';
import type { Queue } from '../jobs/queue.ts';
import type { StoreDeps } from './storeInstance.ts';

/** What the upload form uses beyond the instance store: the queue (volume files become jobs) and the database. */
export interface UploadDeps extends StoreDeps {
  db: Database;
  queue: Queue;
}

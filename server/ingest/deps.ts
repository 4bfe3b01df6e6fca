import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { Queue } from '../jobs/queue.ts';
import type { StoreDeps } from './storeInstance.ts';

/**
 * What the upload form uses beyond the instance store: the queue (volume files become jobs, finished uploads queue
 * their series at once) and the database.
 */
export interface UploadDeps extends StoreDeps {
  config: StoreDeps['config'] & Pick<Config, 'httpIdleTimeoutSeconds' | 'keepInputs'>;
  db: Database;
  queue: Queue;
}

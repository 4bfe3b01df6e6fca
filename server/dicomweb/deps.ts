import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { StoreDeps } from '../ingest/storeInstance.ts';

/** What the DICOMweb services use: the instance store, the index and the settings. */
export interface DicomwebDeps extends StoreDeps {
  config: Pick<Config, 'minFreeDiskMb' | 'overwriteInstances' | 'publicUrl' | 'httpIdleTimeoutSeconds'>;
  db: Database;
}

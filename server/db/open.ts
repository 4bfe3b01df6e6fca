import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../log.ts';
import type { Database } from './database.ts';
import { openPgDatabase } from './pgDatabase.ts';
import { openPgliteDatabase } from './pgliteDatabase.ts';

/** DATABASE_URL set: a real PostgreSQL. Unset: embedded PGlite in DATA_DIR/pglite. */
export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return openPgDatabase(config.databaseUrl, logger);
  return openPgliteDatabase(join(config.dataDir, 'pglite'));
}

import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import type { AuthServices } from './services.ts';

/** What access control and the account routes use. */
export interface AuthDeps {
  config: Readonly<Config>;
  db: Database;
  logger: Logger;
  auth: AuthServices;
}

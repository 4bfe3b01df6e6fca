import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { audit } from '../audit/audit.ts';
import { hashPassword } from './passwords.ts';
import { randomSecret } from './secrets.ts';
import { countUsers, createUser } from './store.ts';

export const INITIAL_PASSWORD_FILE = 'initial-admin-password.txt';

/**
 * With AUTH on and no users at all, creates `admin` with a random password, written once to
 * DATA_DIR/initial-admin-password.txt (mode 0600, owner only) and, when the server runs on a terminal, shown there.
 * Never to the log: logs are shipped to archives that many people read. Later starts find a user and do nothing.
 * Returns the password when it made the account.
 */
export async function ensureFirstAdmin(deps: {
  db: Database;
  logger: Logger;
  dataDir: string;
  /** Where to show the password to a person: the terminal the server runs on, if it runs on one. */
  terminal?: NodeJS.WriteStream;
}): Promise<string | undefined> {
  if ((await countUsers(deps.db)) > 0) return undefined;
  const password = randomSecret(18);
  const file = join(deps.dataDir, INITIAL_PASSWORD_FILE);
  // Written (owner-only) before the account exists and renamed into place once it does: a crash in
  // between never leaves an account whose password nobody has, and a process that loses the race to
  // create the first account leaves the winner's file alone.
  const pending = `${file}.${randomSecret(6)}.tmp`;
  await writeFile(
    pending,
    `user: admin\npassword: ${password}\n\nChange it after signing in (POST /api/me/password), then delete this file.\n`,
    { mode: 0o600, flag: 'wx' },
  );
  const user = await createUser(deps.db, 'admin', await hashPassword(password), ['admin']);
  if (!user) {
    await rm(pending, { force: true });
    return undefined;
  }
  await rename(pending, file);
  await audit(deps, {
    event: 'user-create',
    actor: 'system',
    target: user.id,
    details: { username: 'admin', roles: ['admin'], initial: true },
  });
  deps.logger.warn(
    { user: 'admin', file },
    `created the first account "admin"; its password is in ${file} (readable by this user only): change it after signing in`,
  );
  const terminal = deps.terminal ?? process.stderr;
  if (terminal.isTTY) terminal.write(`\nFirst account: user "admin", password "${password}" (also in ${file}).\n\n`);
  return password;
}

import type { Database } from '../db/database.ts';
import { audit } from '../audit/audit.ts';
import type { Logger } from '../log.ts';
import { hashPassword } from './passwords.ts';
import { isRole, ROLES, type Role } from './roles.ts';
import { randomSecret } from './secrets.ts';
import { createUser, deleteUserSessions, findUserByName, listUsers, setPasswordHash, USERNAME } from './store.ts';

export const USERS_USAGE = `users list | users add <name> [roles, comma-separated; default admin] | users reset-password <name>`;

/**
 * Recovery from the machine itself (whoever can run this can read the database anyway): list users,
 * add one, or reset a password when the last admin's is lost. New passwords are printed to stdout
 * only, never logged.
 */
export async function runUsersCommand(
  deps: { db: Database; logger: Logger },
  args: readonly string[],
  out: (line: string) => void,
): Promise<number> {
  const [action, name, rolesArg] = args;
  if (action === 'list' && args.length === 1) {
    for (const u of await listUsers(deps.db))
      out(`${u.username}\t${u.roles.join(',')}\tlast sign-in ${u.lastLoginAt ?? 'never'}`);
    return 0;
  }
  if (
    (action === 'add' || action === 'reset-password') &&
    name !== undefined &&
    args.length <= (action === 'add' ? 3 : 2)
  ) {
    if (!USERNAME.test(name) || name.toLowerCase() === 'token') {
      out(`anatomy-gateway: "${name}" is not a valid user name (1-64 letters, digits and . _ @ -)`);
      return 2;
    }
    const password = randomSecret(16);
    if (action === 'add') {
      const roles = (rolesArg ?? 'admin').split(',').map((r) => r.trim());
      if (!roles.every(isRole)) {
        out(`anatomy-gateway: roles must be from ${ROLES.join(', ')}`);
        return 2;
      }
      const user = await createUser(deps.db, name, await hashPassword(password), roles as Role[]);
      if (!user) {
        out(`anatomy-gateway: a user named "${name}" already exists (use users reset-password ${name})`);
        return 1;
      }
      await audit(deps, {
        event: 'user-create',
        actor: 'command-line',
        target: user.id,
        details: { username: user.username, roles: user.roles },
      });
      out(`created ${user.username} (${user.roles.join(', ')}); password: ${password}`);
      return 0;
    }
    const user = await findUserByName(deps.db, name);
    if (!user) {
      out(`anatomy-gateway: no user named "${name}"`);
      return 1;
    }
    await setPasswordHash(deps.db, user.id, await hashPassword(password));
    const ended = await deleteUserSessions(deps.db, user.id);
    await audit(deps, {
      event: 'user-password',
      actor: 'command-line',
      target: user.id,
      details: { sessionsEnded: ended },
    });
    out(`new password for ${user.username}: ${password} (${ended} session(s) ended)`);
    return 0;
  }
  out(`anatomy-gateway: usage: ${USERS_USAGE}`);
  return 2;
}

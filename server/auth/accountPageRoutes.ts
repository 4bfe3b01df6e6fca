import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Next } from 'koa';
import type { Router } from '@koa/router';
import { koaBody } from 'koa-body';
import { httpError } from '../errors.ts';
import { auditRequest } from './auditRequest.ts';
import type { AuthDeps } from './deps.ts';
import { INITIAL_PASSWORD_FILE } from './firstAdmin.ts';
import { rolesFromBody } from './roles.ts';
import { countAdmins, findUserById, hasInitialPassword, setUserRoles } from './store.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const parseJson = koaBody({ json: true, urlencoded: false, text: false, multipart: false, jsonLimit: '16kb' });

async function json(ctx: Context, next: Next): Promise<void> {
  if (!ctx.is('application/json')) throw httpError(415, 'Send the request as application/json.');
  await parseJson(ctx, next);
}

/** What the sign-in page and the admin page need beyond the account API of routes.ts. */
export function accountPageRoutes(router: Router, deps: AuthDeps): void {
  /**
   * Whether the sign-in page should point to initial-admin-password.txt: only while the file is there and the
   * "admin" account still has the password written in it. Says nothing more than the page's own hint would.
   */
  router.get('/api/login/hint', async (ctx) => {
    const file = await stat(join(deps.config.dataDir, INITIAL_PASSWORD_FILE)).catch(() => undefined);
    const initialPassword = deps.config.auth && file?.isFile() === true && (await hasInitialPassword(deps.db, 'admin'));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { initialPassword };
  });

  router.put('/api/users/:id/roles', json, async (ctx) => {
    const id = ctx.params.id as string;
    if (!UUID.test(id)) throw httpError(404, `No user with id "${id.slice(0, 60)}".`);
    const target = await findUserById(deps.db, id);
    if (!target) throw httpError(404, `No user with id "${id}".`);
    const body = ctx.request.body as Record<string, unknown> | null;
    const roles = rolesFromBody(body && typeof body === 'object' ? body : {});
    if (target.roles.includes('admin') && !roles.includes('admin') && (await countAdmins(deps.db)) <= 1)
      throw httpError(409, 'This is the last admin: make another user admin before taking the role away.');
    const user = await setUserRoles(deps.db, id, roles);
    if (!user) throw httpError(404, `No user with id "${id}".`);
    deps.auth.basicCache.clear();
    await auditRequest(deps, ctx, {
      event: 'user-roles',
      target: id,
      details: { username: user.username, before: target.roles, roles: user.roles },
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = user;
  });
}

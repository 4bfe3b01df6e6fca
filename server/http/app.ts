import Koa from 'koa';
import type { AppContext } from '../app/context.ts';
import { errorMiddleware } from './errors.ts';
import { allRouters } from './routes.ts';
import { securityHeaders } from './securityHeaders.ts';
import { accessControl } from '../auth/accessControl.ts';
import { notFoundPage } from './notFoundPage.ts';

/** The Koa application without a listening socket (main.ts listens; tests use app.callback()). */
export function createApp(deps: AppContext): Koa {
  const app = new Koa();
  // Behind a reverse proxy the client address comes from X-Forwarded-For only when explicitly configured.
  app.proxy = false;
  app.use(
    errorMiddleware((err, ctx) => {
      // A full disk or a database restart is the operator's condition, not a bug: a warning without a stack.
      if (ctx.status === 507 || ctx.status === 503) {
        deps.logger.warn(
          { status: ctx.status, err: err.message, method: ctx.method, path: ctx.path },
          'request refused',
        );
        return;
      }
      deps.logger.error(
        { err: { message: err.message, stack: err.stack }, method: ctx.method, path: ctx.path },
        'request failed',
      );
    }),
  );
  app.use(securityHeaders());
  app.use(notFoundPage(deps.webDist));
  app.use(accessControl(deps));
  for (const router of allRouters(deps)) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  // Koa logs every error it sees to stderr by default; ours are logged above, without patient data.
  app.silent = true;
  return app;
}

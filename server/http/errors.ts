import type { Context, Next } from 'koa';
import { coerceError } from '../errors.ts';

const GENERIC: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** The one place thrown errors become responses. Installed first, so it wraps every route. */
export function errorMiddleware(onError: (err: Error, ctx: Context) => void) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (thrown) {
      const err = coerceError(thrown);
      const raw =
        (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
      const status = typeof raw === 'number' && raw >= 400 && raw < 600 ? raw : 500;
      const expose =
        (err as { expose?: unknown }).expose === true ||
        (status < 500 && (err as { expose?: unknown }).expose !== false);
      ctx.status = status;
      if (status >= 500) onError(err, ctx);
      ctx.set('Cache-Control', 'no-store');
      const code = (err as { code?: unknown }).code;
      ctx.body = {
        error: expose ? err.message : (GENERIC[status] ?? 'Internal Server Error'),
        ...(expose && typeof code === 'string' ? { code } : {}),
      };
    }
  };
}

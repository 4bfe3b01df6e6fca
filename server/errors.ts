/**
 * Errors every room may throw. The HTTP edge (http/errors.ts) turns them into responses and the worker into job
 * outcomes; nothing here knows about either.
 */

/**
 * Errors carry HTTP meaning, as in Koa: `status` and `expose`. A 4xx message is written for the client and
 * shown; a 5xx message may hold internals and is replaced by a generic text (the full error is logged).
 */
export class HttpError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly code: string | undefined;
  constructor(status: number, message: string, options: { expose?: boolean; code?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'HttpError';
    this.status = status;
    this.expose = options.expose ?? status < 500;
    this.code = options.code;
  }
}

export function httpError(
  status: number,
  message: string,
  options?: { expose?: boolean; code?: string; cause?: unknown },
): HttpError {
  return new HttpError(status, message, options);
}

/**
 * A job fails by throwing. An error with `retryable === false` fails the job at once (bad input will not get
 * better by retrying); any other error is retried with backoff.
 */
export class PermanentError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Anything thrown, as an Error (graphile-worker's coerceError): a string or object keeps its text as the cause. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(`non-error thrown: ${JSON.stringify(err)}`, { cause: err });
  } catch {
    return new Error('non-error thrown', { cause: err });
  }
}

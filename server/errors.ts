/**
 * Errors every room may raise without importing the queue. A PermanentError fails its job at once
 * (no retry): it is for failures that would repeat identically on every attempt.
 */
export class PermanentError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Failed sign-ins (form login, Basic user:password) counted per client address and per user name,
 * with rate-limiter-flexible's in-memory counters. A user name gets a larger budget than an address,
 * so one attacker cannot lock a person out from everywhere, while guessing spread over many
 * addresses is still bounded. Counters are per process: with several `serve` processes behind a
 * balancer the limits apply to each.
 */
export interface LoginThrottleOptions {
  /** Failures allowed from one address within `windowSeconds` before it is blocked. */
  perAddress: number;
  /** Failures allowed for one user name (any address) within `windowSeconds`. */
  perUser: number;
  windowSeconds: number;
}

export type ThrottleVerdict = { blocked: false } | { blocked: true; retryAfterSeconds: number };

export class LoginThrottle {
  readonly #byAddress: RateLimiterMemory;
  readonly #byUser: RateLimiterMemory;

  constructor(options: LoginThrottleOptions) {
    const { windowSeconds } = options;
    this.#byAddress = new RateLimiterMemory({
      keyPrefix: 'addr',
      points: options.perAddress,
      duration: windowSeconds,
      blockDuration: windowSeconds,
    });
    this.#byUser = new RateLimiterMemory({
      keyPrefix: 'user',
      points: options.perUser,
      duration: windowSeconds,
      blockDuration: windowSeconds,
    });
  }

  async check(address: string, username: string): Promise<ThrottleVerdict> {
    const [a, u] = await Promise.all([this.#byAddress.get(address), this.#byUser.get(username.toLowerCase())]);
    const waits = [a && a.remainingPoints <= 0 ? a.msBeforeNext : 0, u && u.remainingPoints <= 0 ? u.msBeforeNext : 0];
    const ms = Math.max(...waits);
    return ms > 0 ? { blocked: true, retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)) } : { blocked: false };
  }

  async fail(address: string, username: string): Promise<void> {
    // consume() rejects with a RateLimiterRes once the budget is spent: that is the block, not an error.
    const swallow = (e: unknown) => {
      if (!(e instanceof RateLimiterRes)) throw e;
    };
    await Promise.all([
      this.#byAddress.consume(address).catch(swallow),
      this.#byUser.consume(username.toLowerCase()).catch(swallow),
    ]);
  }
}

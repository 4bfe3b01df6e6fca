import type { Queryable } from '../db/database.ts';
import { sha256Hex } from './secrets.ts';

/**
 * Sign-in attempts (form login, Basic user:password, password change) counted in the database, so several `serve`
 * processes share the count. An attempt is taken before the password is checked, atomically on three keys: the
 * user name from this address, the user name from anywhere, and the address for any user names. So a burst of
 * concurrent guesses cannot all be checked, and one person's lockout does not lock out others behind the same NAT:
 * the pair has the smallest budget, the user name a larger one (guessing spread over many addresses), the address
 * the largest (one address spraying many names). A correct password gives its attempt back and clears the pair.
 */
export interface LoginThrottleOptions {
  /** Attempts for one user name from one address within `windowSeconds`. */
  perUserAndAddress: number;
  /** Attempts for one user name from any address. */
  perUser: number;
  /** Attempts from one address for any user names. */
  perAddress: number;
  windowSeconds: number;
}

export type ThrottleVerdict = { blocked: false; attempt: Attempt } | { blocked: true; retryAfterSeconds: number };

/** A taken attempt: `succeeded` when the password was right; a wrong one needs nothing more. */
export interface Attempt {
  succeeded(): Promise<void>;
}

function keysOf(address: string, username: string): { pair: string; user: string; addr: string } {
  const name = username.toLowerCase();
  // Hashed: people type their password into the name field, and the table must not keep it.
  return {
    pair: sha256Hex(`pair\u0000${address}\u0000${name}`),
    user: sha256Hex(`user\u0000${name}`),
    addr: sha256Hex(`addr\u0000${address}`),
  };
}

export class LoginThrottle {
  readonly #db: Queryable;
  readonly #options: LoginThrottleOptions;

  constructor(db: Queryable, options: LoginThrottleOptions) {
    this.#db = db;
    this.#options = options;
  }

  /** Takes an attempt for this user name from this address, or says how long to wait. */
  async attempt(address: string, username: string): Promise<ThrottleVerdict> {
    const k = keysOf(address, username);
    const o = this.#options;
    const { rows } = await this.#db.query<{ allowed: boolean; retry_after_seconds: number }>(
      'SELECT allowed, retry_after_seconds FROM login_attempt_take($1::text[], $2::integer[], $3)',
      [[k.pair, k.user, k.addr], [o.perUserAndAddress, o.perUser, o.perAddress], o.windowSeconds],
    );
    if (!rows[0].allowed) return { blocked: true, retryAfterSeconds: rows[0].retry_after_seconds };
    return { blocked: false, attempt: { succeeded: () => this.#succeeded(k) } };
  }

  /** The right password: the pair starts again, the user name and the address get their attempt back. */
  async #succeeded(k: { pair: string; user: string; addr: string }): Promise<void> {
    await this.#db.query(
      `WITH cleared AS (DELETE FROM login_attempts WHERE key = $1)
       UPDATE login_attempts SET count = GREATEST(count - 1, 0) WHERE key = ANY($2::text[])`,
      [k.pair, [k.user, k.addr]],
    );
  }
}

import type { Config } from '../config/config.ts';
import type { Queryable } from '../db/database.ts';
import { LoginThrottle } from './loginThrottle.ts';
import { sha256Hex } from './secrets.ts';

/** Per-process state shared by the access middleware and the auth routes; built once by the composition root. */
export interface AuthServices {
  throttle: LoginThrottle;
  /** Basic user:password checks that passed recently, so a PACS sending many requests is not scrypt-bound. */
  basicCache: BasicCache;
}

export function createAuthServices(db: Queryable, config: Pick<Config, 'loginMaxFailures'>): AuthServices {
  const n = config.loginMaxFailures;
  return {
    throttle: new LoginThrottle(db, {
      perUserAndAddress: n,
      perUser: n * 5,
      perAddress: n * 20,
      windowSeconds: 15 * 60,
    }),
    basicCache: new BasicCache(),
  };
}

/** Keyed by a hash of user name and password, so the cache holds no password. Cleared on any password change. */
export class BasicCache {
  readonly #entries = new Map<string, { userId: string; until: number }>();
  static readonly TTL_MS = 60_000;
  static readonly MAX = 1000;

  #key(username: string, password: string): string {
    return sha256Hex(`${username.toLowerCase()}\u0000${password}`);
  }

  get(username: string, password: string): string | undefined {
    const key = this.#key(username, password);
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.until < Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.userId;
  }

  set(username: string, password: string, userId: string): void {
    if (this.#entries.size >= BasicCache.MAX) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(this.#key(username, password), { userId, until: Date.now() + BasicCache.TTL_MS });
  }

  clear(): void {
    this.#entries.clear();
  }
}

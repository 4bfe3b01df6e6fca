/**
 * A counting semaphore: `acquire` resolves when one of `size` slots is free, `release` hands the slot to the first
 * waiter only. A loop of `while (busy) await Promise.race(pending)` wakes every waiter on each completion instead,
 * which is quadratic in the number of waiting files (thousands of small files in one upload).
 */
export class Semaphore {
  readonly #size: number;
  #used = 0;
  readonly #waiters: Array<() => void> = [];
  #head = 0;

  constructor(size: number) {
    if (!(size >= 1)) throw new RangeError('a semaphore needs at least one slot');
    this.#size = size;
  }

  /** Slots in use. */
  get used(): number {
    return this.#used;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#waiters.length - this.#head;
  }

  acquire(): Promise<void> {
    if (this.#used < this.#size) {
      this.#used += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    if (this.#head < this.#waiters.length) {
      // The slot passes straight to the next waiter: `used` stays the same.
      const next = this.#waiters[this.#head];
      this.#head += 1;
      if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
        this.#waiters.splice(0, this.#head);
        this.#head = 0;
      }
      next();
      return;
    }
    if (this.#used === 0) throw new Error('release without acquire');
    this.#used -= 1;
  }

  /** Runs `task` in a slot (acquired first, released when it settles). */
  async run<T>(task: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /** Resolves once every slot is free (all tasks started so far have settled). */
  async idle(): Promise<void> {
    for (let i = 0; i < this.#size; i++) await this.acquire();
    for (let i = 0; i < this.#size; i++) this.release();
  }
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from './semaphore.ts';

test('a semaphore runs at most its size at once and hands each freed slot to one waiter, first come first served', async () => {
  const sem = new Semaphore(3);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const tasks = Array.from({ length: 50 }, (_, i) =>
    sem.run(async () => {
      running += 1;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setImmediate(r));
      running -= 1;
    }),
  );
  assert.equal(sem.used, 3);
  assert.equal(sem.waiting, 47);
  await Promise.all(tasks);
  assert.equal(peak, 3);
  assert.deepEqual(
    order,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(sem.used, 0);
  assert.equal(sem.waiting, 0);
});

test('releasing wakes exactly one waiter, so 20,000 waiters cost linear work', async () => {
  const sem = new Semaphore(1);
  await sem.acquire();
  let woken = 0;
  const waiters = Array.from({ length: 20_000 }, () => sem.acquire().then(() => (woken += 1)));
  sem.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(woken, 1, 'one release, one waiter woken');
  for (let i = 0; i < 19_999; i++) sem.release();
  await Promise.all(waiters);
  assert.equal(woken, 20_000);
  sem.release();
  assert.equal(sem.used, 0);
  assert.throws(() => sem.release(), /release without acquire/);
});

test('idle waits for every slot to be free', async () => {
  const sem = new Semaphore(2);
  let done = 0;
  for (let i = 0; i < 5; i++)
    void sem.run(async () => {
      await new Promise((r) => setTimeout(r, 5));
      done += 1;
    });
  await sem.idle();
  assert.equal(done, 5);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startDimseServer } from '../../server/dimse/scp.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { hasProgram, requireOrSkip } from '../support/requirements.ts';
import { dcmtk } from './dcmtk.ts';

interface Raw {
  socket: Socket;
  closed: Promise<number>;
}

/** A raw TCP connection; `closed` resolves with the milliseconds it stayed open. */
function raw(port: number, localAddress = '127.0.0.1'): Raw {
  const started = Date.now();
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(Date.now() - started))) };
}

const connected = (r: Raw): Promise<unknown> => new Promise((resolve) => r.socket.once('connect', resolve));
const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)),
  ]);

/** An A-ASSOCIATE-RQ PDU header announcing `length` bytes (which never all come). */
function associateHeader(length: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = 0x01;
  h.writeUInt32BE(length, 2);
  return h;
}

test('DIMSE connections that never associate are capped, refused large PDUs and closed after the association timeout', async (t) => {
  if (!requireOrSkip(t, hasProgram('echoscu'), 'DCMTK (echoscu; apt-get install dcmtk)')) return;
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const server = await startDimseServer(deps, {
      port: 0,
      associationTimeoutMs: 1500,
      maxUnassociated: 12,
      maxUnassociatedPerAddress: 6,
    });
    t.after(() => server.close());
    const { port } = server;

    // A PDU header announcing 4 MiB - 1 before any association: refused at once, nothing buffered.
    const big = raw(port);
    await connected(big);
    big.socket.write(associateHeader((4 << 20) - 1));
    big.socket.write(Buffer.alloc(64 * 1024));
    assert.ok((await within(big.closed, 1000, 'a 4 MiB association request')) < 1000);

    // Tricklers: a byte at a time of an A-ASSOCIATE-RQ that never completes.
    const tricklers = Array.from({ length: 6 }, () => raw(port));
    await Promise.all(tricklers.map(connected));
    for (const r of tricklers) r.socket.write(associateHeader(200));
    const trickle = setInterval(() => {
      for (const r of tricklers) if (!r.socket.destroyed) r.socket.write(Buffer.from([0]));
    }, 200);
    t.after(() => clearInterval(trickle));
    // The seventh from the same address is over the per-address cap: closed at once.
    const seventh = raw(port);
    assert.ok((await within(seventh.closed, 1000, 'over the per-address cap')) < 1000);
    // Another address may still connect (and is cut off by the total cap beyond it).
    const others = Array.from({ length: 6 }, () => raw(port, '127.0.0.2'));
    await Promise.all(others.map(connected));
    const overTotal = raw(port, '127.0.0.3');
    assert.ok((await within(overTotal.closed, 1000, 'over the total cap')) < 1000);

    // Every connection that did not associate is gone after the association timeout, trickling or idle.
    const lifetimes = await within(
      Promise.all([...tricklers, ...others].map((r) => r.closed)),
      5000,
      'unassociated connections',
    );
    for (const ms of lifetimes) assert.ok(ms >= 1000 && ms < 4000, `closed after ${ms} ms`);
    clearInterval(trickle);

    // A real sender associates as before.
    const echo = await dcmtk('echoscu', ['-aet', 'TESTSCU', '-aec', 'ANATOMYGW', '127.0.0.1', String(port)]);
    assert.equal(echo.code, 0, echo.stderr);
  });
});

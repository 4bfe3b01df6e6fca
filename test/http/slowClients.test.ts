import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { multipartRelated } from '../support/dicomweb.ts';
import { makeSyntheticCt, syntheticDicomSliceBuffers } from '../support/syntheticCt.ts';
import { createApp } from '../../server/http/app.ts';
import { guardHttpServer } from '../../server/http/connectionGuards.ts';

/** A raw connection; resolves with what the server sent by the time it closed the connection. */
function rawClient(port: number, localAddress = '127.0.0.1'): { socket: Socket; closed: Promise<string> } {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(got)));
  return { socket, closed };
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms)),
  ]);

test('slow request bodies are cut off: JSON routes by a body deadline (408), STOW-RS when idle; per-address connection cap', async (t) => {
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t, {
      HTTP_BODY_TIMEOUT_SECONDS: '1',
      HTTP_IDLE_TIMEOUT_SECONDS: '1',
      HTTP_MAX_CONNECTIONS_PER_ADDRESS: '4',
    });
    const server = createServer(createApp(deps).callback());
    guardHttpServer(server, deps.config, deps.logger);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const { port } = server.address() as AddressInfo;

    // A sign-in whose 1000-byte body trickles in: 408 after the body deadline, then the connection closes.
    const login = rawClient(port);
    login.socket.write(
      'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const trickle = setInterval(() => login.socket.write(' '), 300);
    const answer = await within(login.closed, 5000, 'slow sign-in body');
    clearInterval(trickle);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /HTTP_BODY_TIMEOUT_SECONDS/);

    // STOW-RS with a body that stops: cut off once nothing came for the idle timeout.
    const stalled = rawClient(port);
    stalled.socket.write(
      'POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; type="application/dicom"; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n',
    );
    await within(stalled.closed, 5000, 'stalled STOW-RS body');

    // STOW-RS that keeps sending, slowly, for longer than the idle timeout in total: stored.
    const [instance] = syntheticDicomSliceBuffers(makeSyntheticCt({ dims: [8, 8, 1], seed: 2 }), {});
    const body = multipartRelated([instance], 'b');
    const slow = rawClient(port);
    slow.socket.write(
      `POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/related; type="application/dicom"; boundary=b\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    const pieces = 6;
    for (let i = 0; i < pieces; i++) {
      slow.socket.write(
        body.subarray(Math.floor((i * body.length) / pieces), Math.floor(((i + 1) * body.length) / pieces)),
      );
      await new Promise((r) => setTimeout(r, 400));
    }
    const stowAnswer = await within(slow.closed, 10_000, 'slow STOW-RS');
    assert.match(stowAnswer, /^HTTP\/1\.1 200 /, stowAnswer.slice(0, 200));

    // Four idle connections from one address are kept, the fifth is closed at once; another address still gets in.
    const held = Array.from({ length: 4 }, () => rawClient(port));
    await Promise.all(held.map((h) => new Promise((r) => h.socket.once('connect', r))));
    await new Promise((r) => setTimeout(r, 100));
    const fifth = rawClient(port);
    assert.equal(await within(fifth.closed, 2000, 'connection over the cap'), '');
    const other = rawClient(port, '127.0.0.2');
    other.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(await within(other.closed, 5000, 'another address'), /^HTTP\/1\.1 200 /);
    for (const h of held) h.socket.destroy();
  });
});

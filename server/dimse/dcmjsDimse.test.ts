import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import {
  Client,
  CEchoRequest,
  MAX_PDU_LENGTH,
  receiveClientStores,
  replaceCommandEncoder,
  replacePduAccumulator,
  Scp,
  silenceLibraryLog,
} from './dcmjsDimse.ts';

// dcmjs-dimse is pinned to one version in package.json; these fail when an upgrade changes what the server reaches
// into, before any association would quietly fall back to the library's slower or in-memory paths.

test('the SCP connection still has the PDU accumulator and command writer this server replaces', () => {
  silenceLibraryLog();
  const socket = new Socket();
  const scp = new Scp(socket, {});
  assert.equal(
    replacePduAccumulator(scp, socket, () => undefined),
    true,
    'one library data listener and _processPdu',
  );
  assert.equal(socket.listeners('data').length, 1, 'the library listener was swapped, not added to');
  assert.equal(replaceCommandEncoder(scp), true, '_sendPDataTF');
  socket.destroy();
});

test("a client's network still takes C-STORE data sets through the hooks C-GET receiving replaces", async () => {
  silenceLibraryLog();
  const client = new Client();
  const failed = new Promise<void>((resolve) =>
    (client.on.bind(client) as (e: string, l: () => void) => void)('networkError', resolve),
  );
  // Nothing listens on port 1: the connection fails, but send() has built the network by then.
  client.addRequest(echoRequest());
  client.send('127.0.0.1', 1, 'SCU', 'SCP', { connectTimeout: 2000 });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  assert.equal(
    receiveClientStores(client, () => sink),
    true,
  );
  await failed;
});

function echoRequest(): InstanceType<typeof CEchoRequest> {
  return new CEchoRequest();
}

test('the largest PDU the library reads is the one we advertise', () => {
  assert.equal(MAX_PDU_LENGTH, 256 * 1024);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { commandPDataTf, encodeCommandSet } from './commandSet.ts';
import {
  CEchoRequest,
  CEchoResponse,
  CStoreRequest,
  CStoreResponse,
  Dataset,
  replaceCommandEncoder,
  Scp,
} from './dcmjsDimse.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';

function storeRequest(sopInstanceUid: string, messageId: number): InstanceType<typeof CStoreRequest> {
  const request = new CStoreRequest(
    new Dataset({ SOPClassUID: CT, SOPInstanceUID: sopInstanceUid }, '1.2.840.10008.1.2.1'),
  );
  request.setMessageId(messageId);
  return request;
}

/** The library's own encoding of a command set: the reference ours must match byte for byte. */
function libraryBytes(command: { getCommandDataset(): unknown }): Buffer {
  return (command.getCommandDataset() as { getDenaturalizedCommandDataset(): Buffer }).getDenaturalizedCommandDataset();
}

function elementsOf(command: { getCommandDataset(): unknown }): Record<string, unknown> {
  return (command.getCommandDataset() as { getElements(): Record<string, unknown> }).getElements();
}

test('C-STORE and C-ECHO responses encode exactly as the library encodes them', () => {
  const cases: Array<{ name: string; response: { getCommandDataset(): unknown } }> = [];
  for (const [uid, id] of [
    ['2.25.265843041541924726391337507363121886691', 7],
    ['1.2.3.4', 65535],
    ['1.2.3.45', 1],
  ] as const) {
    const ok = CStoreResponse.fromRequest(storeRequest(uid, id));
    ok.setStatus(0x0000);
    cases.push({ name: `success ${uid}`, response: ok });
  }
  for (const comment of ['Out of resources: the disk is full', 'Cannot understand: odd']) {
    const failed = CStoreResponse.fromRequest(storeRequest('1.2.3.4.5', 3));
    failed.setStatus(0xa700);
    failed.setErrorComment(comment);
    cases.push({ name: `failure "${comment}"`, response: failed });
  }
  const echoRequest = new CEchoRequest();
  echoRequest.setMessageId(12);
  const echo = CEchoResponse.fromRequest(echoRequest);
  echo.setStatus(0);
  cases.push({ name: 'C-ECHO-RSP', response: echo });

  for (const { name, response } of cases) {
    const ours = encodeCommandSet(elementsOf(response));
    assert.ok(ours, name);
    assert.equal(ours.toString('hex'), libraryBytes(response).toString('hex'), name);
  }
});

test('a command element outside the table, or a value of the wrong kind, is left to the library', () => {
  assert.equal(encodeCommandSet({ CommandField: 0x8001, OffendingElement: ['00100010'] }), undefined);
  assert.equal(encodeCommandSet({ CommandField: 0x8001, Status: 70000 }), undefined);
  assert.equal(encodeCommandSet({ CommandField: '32769' }), undefined);
  assert.ok(encodeCommandSet({ CommandField: 0x8001, Status: 0 }));
});

test('the P-DATA-TF PDU carries the command as one last command fragment on its presentation context', () => {
  const command = Buffer.from([1, 2, 3, 4, 5, 6]);
  const pdu = commandPDataTf(5, command);
  assert.equal(pdu[0], 0x04);
  assert.equal(pdu.readUInt32BE(2), pdu.length - 6);
  assert.equal(pdu.readUInt32BE(6), command.length + 2);
  assert.equal(pdu[10], 5);
  assert.equal(pdu[11], 0x03);
  assert.deepEqual(pdu.subarray(12), command);
});

test('on a library connection, responses go out through this encoder and requests with data sets through the library', () => {
  const socket = new Socket();
  const scp = new Scp(socket, {});
  const written: Buffer[] = [];
  (scp as unknown as { socket: { write(b: Buffer): boolean } }).socket = {
    write: (b: Buffer) => written.push(Buffer.from(b)) > 0,
  };
  assert.equal(replaceCommandEncoder(scp), true, 'dcmjs-dimse internals are as this version expects');
  const send = (scp as unknown as { _sendPDataTF(c: unknown, id: number, max: number): void })._sendPDataTF.bind(scp);

  const response = CStoreResponse.fromRequest(storeRequest('1.2.3.4', 9));
  response.setStatus(0);
  send(response, 3, 16384);
  assert.equal(written.length, 1);
  assert.deepEqual(written[0], commandPDataTf(3, libraryBytes(response)));

  // A request carrying a data set (not something the SCP sends) is the library's: command PDU, then data.
  written.length = 0;
  send(storeRequest('1.2.3.5', 10), 1, 16384);
  assert.equal(written.length, 2);
  assert.equal(written[1][11] & 0x01, 0, 'the second PDU is a data fragment');
  socket.destroy();
});

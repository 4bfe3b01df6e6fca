import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Writable } from 'node:stream';
import dcmjsDimse from 'dcmjs-dimse';
import { commandPDataTf, encodeCommandSet } from './commandSet.ts';
import { PduFramer } from './pduFramer.ts';
import type { association, requests, responses } from 'dcmjs-dimse';

/**
 * The one place that touches dcmjs-dimse (the SCP here, the PACS clients in server/pacs/). The package is a
 * minified CommonJS bundle (only a default import works from ESM) with a few things its typings leave out;
 * everything the project uses is re-exported here with proper types. The version is pinned exactly in
 * package.json: the functions below that reach into its internals return false when those are not as this
 * version has them, and dcmjsDimse.test.ts fails then.
 */
export const { Scp, Server, Client, Dataset } = dcmjsDimse;
export const { CEchoResponse, CStoreResponse } = dcmjsDimse.responses;
export const { CEchoRequest, CStoreRequest, CFindRequest, CGetRequest, CMoveRequest } = dcmjsDimse.requests;
export const { PresentationContextResult, RejectResult, RejectSource, RejectReason, AbortSource, AbortReason, Status } =
  dcmjsDimse.constants;

export type Association = association.Association;
export type DimseClient = InstanceType<typeof Client>;
export type CFindRequestType = requests.CFindRequest;
export type CGetRequestType = requests.CGetRequest;
export type CMoveRequestType = requests.CMoveRequest;
export type CGetResponseType = responses.CGetResponse;
export type CMoveResponseType = responses.CMoveResponse;
export type PresentationContext = association.PresentationContext;
export type CEchoRequest = requests.CEchoRequest;
export type CStoreRequest = requests.CStoreRequest;
export type CEchoResponseType = responses.CEchoResponse;
export type CStoreResponseType = responses.CStoreResponse;
export type DimseServer = InstanceType<typeof Server>;
export type ScpSocket = ConstructorParameters<typeof Scp>[0];
export type ScpOptions = ConstructorParameters<typeof Scp>[1];

/** The Max PDU Length we advertise (the library's own maximum, 256 KiB). */
export const MAX_PDU_LENGTH: number = dcmjsDimse.Implementation.getMaxPduLength();

/**
 * dcmjs-dimse logs through the global `loglevel` logger with every level enabled, writing one
 * console line per PDU (a large cost at hundreds of instances per second). The SCP logs
 * association events itself, without data sets, so the library's own output is switched off.
 */
export function silenceLibraryLog(): void {
  dcmjsDimse.log.setLevel('silent', false);
}

/** The net.Server behind a listening dcmjs-dimse Server (not in its typings). */
export function netServerOf(server: DimseServer): NetServer | undefined {
  const inner = (server as unknown as { server?: NetServer }).server;
  return inner;
}

export function listeningPort(server: DimseServer): number {
  const address = netServerOf(server)?.address() as AddressInfo | string | null | undefined;
  if (!address || typeof address === 'string') throw new Error('the DICOM server is not listening on a TCP port');
  return address.port;
}

/**
 * The largest PDU accepted from a peer. Ours advertise 256 KiB, but some senders ignore the
 * negotiated maximum; the library's own sending side goes up to 4 MiB.
 */
export const MAX_ACCEPTED_PDU_LENGTH = 4 << 20;

/**
 * The largest PDU accepted before an association is accepted: an A-ASSOCIATE-RQ with a hundred presentation
 * contexts is tens of KiB, so a connection that has not associated cannot make us buffer megabytes.
 */
export const MAX_UNASSOCIATED_PDU_LENGTH = 256 * 1024;

/** What the library's connection object does with a whole PDU, as its own accumulator calls it. */
interface NetworkInternals {
  lastPduTime?: number;
  statistics?: { addBytesReceived?: (bytes: number) => void; addBytesSent?: (bytes: number) => void };
  _processPdu?: (pdu: Buffer) => Promise<void>;
  socket?: { write(data: Buffer): unknown };
  _sendPDataTF?: (command: OutgoingCommand, contextId: number, maxPduLength: number) => void;
}

/** A request or response as the library hands it to its P-DATA-TF writer. */
interface OutgoingCommand {
  getDataset(): unknown;
  getCommandDataset(): { getElements(): Record<string, unknown> };
}

/**
 * Sends commands without a data set (the SCP's C-STORE-RSP and C-ECHO-RSP) through commandSet.ts (which
 * says why) on one connection; anything else, or a command it does not encode, still goes through the
 * library's own writer. Returns false, changing nothing, when the library's internals are not as this
 * expects.
 */
export function replaceCommandEncoder(network: object): boolean {
  const internals = network as NetworkInternals;
  const librarySend = internals._sendPDataTF;
  if (typeof librarySend !== 'function') return false;
  internals._sendPDataTF = function (command: OutgoingCommand, contextId: number, maxPduLength: number): void {
    const encoded = command.getDataset() ? undefined : encodeCommandSet(command.getCommandDataset().getElements());
    const pdu = encoded && commandPDataTf(contextId, encoded);
    if (!pdu || !internals.socket || (maxPduLength > 0 && pdu.length - 6 > maxPduLength)) {
      librarySend.call(network, command, contextId, maxPduLength);
      return;
    }
    internals.socket.write(pdu);
    internals.statistics?.addBytesSent?.(pdu.length);
  };
  return true;
}

/**
 * Puts PduFramer (pduFramer.ts, which says why) in place of dcmjs-dimse's PDU accumulator on one
 * connection: the library's own 'data' listener is removed and whole PDUs go to its PDU handling
 * exactly as its accumulator hands them on. `onError` gets a malformed stream (the connection is
 * then the caller's to abort). Returns false, changing nothing, when the library's internals are not
 * as this expects (a later version): its own accumulator then stays.
 */
export function replacePduAccumulator(
  network: object,
  socket: ScpSocket,
  onError: (err: Error) => void,
  maxPduLength: () => number = () => MAX_ACCEPTED_PDU_LENGTH,
): boolean {
  const internals = network as NetworkInternals;
  const processPdu = internals._processPdu;
  const listeners = socket.listeners('data');
  if (typeof processPdu !== 'function' || listeners.length !== 1) return false;
  socket.off('data', listeners[0] as (chunk: Buffer) => void);
  const framer = new PduFramer((pdu) => {
    internals.lastPduTime = Date.now();
    void processPdu.call(network, pdu);
  }, maxPduLength);
  socket.on('data', (chunk: Buffer) => {
    internals.statistics?.addBytesReceived?.(chunk.length);
    try {
      framer.push(chunk);
    } catch (err) {
      socket.pause();
      onError(err as Error);
    }
  });
  return true;
}

/** The parts of a client's internal Network that C-GET receiving hooks into (not in its typings). */
interface ClientNetwork {
  socket?: Socket;
  createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable;
  createDatasetFromStoreWritableStream(
    writable: Writable,
    context: PresentationContext,
    callback: (dataset: InstanceType<typeof Dataset>) => void,
  ): void;
}

/**
 * Sends the data sets of C-STOREs a client receives (C-GET sub-operations) into writables the caller makes (an
 * InstanceSpool on disk) instead of the library's in-memory collection; the library gets an empty placeholder
 * data set once a writable has ended. Call after `send()` has built the client's network. Returns false,
 * changing nothing, when the library's internals are not as this expects.
 */
export function receiveClientStores(
  client: DimseClient,
  create: (context: PresentationContext, request: CStoreRequest, socket: Socket | undefined) => Writable,
): boolean {
  const network = (client as unknown as { network?: ClientNetwork }).network;
  if (
    !network ||
    typeof network.createStoreWritableStream !== 'function' ||
    typeof network.createDatasetFromStoreWritableStream !== 'function'
  )
    return false;
  network.createStoreWritableStream = (context, request) => create(context, request, network.socket);
  network.createDatasetFromStoreWritableStream = (_writable, context, callback) => {
    callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));
  };
  return true;
}

export type { Socket };

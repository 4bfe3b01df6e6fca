import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import dcmjsDimse from 'dcmjs-dimse';
import type { association, requests, responses } from 'dcmjs-dimse';

/**
 * The one place that touches dcmjs-dimse directly. The package is a minified CommonJS bundle (only
 * a default import works from ESM) with a few things its typings leave out; everything the SCP
 * needs is re-exported here with proper types.
 */
export const { Scp, Server, Dataset } = dcmjsDimse;
export const { CEchoResponse, CStoreResponse } = dcmjsDimse.responses;
export const { PresentationContextResult, RejectResult, RejectSource, RejectReason, AbortSource, AbortReason } =
  dcmjsDimse.constants;

export type Association = association.Association;
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

export type { Socket };

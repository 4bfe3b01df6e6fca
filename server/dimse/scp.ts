import { mkdir } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { storeInstance as ingestStoreInstance } from '../ingest/storeInstance.ts';
import type { Logger } from '../log.ts';
import { allowedCallingAets } from './associationPolicy.ts';
import { listeningPort, netServerOf, Server, silenceLibraryLog } from './dcmjsDimse.ts';
import { freeDiskProbe } from './freeDisk.ts';
import { gatewayScpClass, type DimseDeps, type ScpShared, type StoreInstance } from './gatewayScp.ts';
import { safeError } from './logFields.ts';
import { readDimseTls, type DimseTlsMaterial } from './tlsFiles.ts';

export type { DimseDeps, DimseOrigin, StoreInstance } from './gatewayScp.ts';

/**
 * DICOM C-STORE and C-ECHO SCP (PS3.4 Annexes A and B, PS3.7, PS3.8) on dcmjs-dimse.
 *
 * Each data set is streamed to a temporary Part-10 file under DATA_DIR/tmp as its fragments
 * arrive (dcmjs-dimse would otherwise collect it in memory), then handed to the ingest pipeline;
 * the C-STORE response is sent only after ingest has stored the instance durably, so a success
 * status means the instance is safe. Logs carry AE titles, addresses, SOP UIDs and counts, never
 * data set content.
 */

export interface DimseServerOptions {
  /** Defaults to config.dimsePort; 0 picks a free port (tests). */
  port?: number;
  storeInstance?: StoreInstance;
  /** Associations open at once before new ones are refused (transient, local limit exceeded). */
  maxAssociations?: number;
  /** Connections not yet associated, in all and per address, before new ones are closed at once. */
  maxUnassociated?: number;
  maxUnassociatedPerAddress?: number;
  /** How long close() waits for instances being received or stored before aborting associations. */
  closeGraceMs?: number;
  /** From connection to an accepted association (ours), and dcmjs-dimse's between PDUs. */
  associationTimeoutMs?: number;
  pduTimeoutMs?: number;
  /** Already read by main.ts at start; otherwise read here from config.dimseTls. */
  tls?: DimseTlsMaterial;
}

export interface RunningDimseServer {
  port: number;
  close(): Promise<void>;
}

const DEFAULT_MAX_ASSOCIATIONS = 32;
/** A sender opens a few associations at once; a flood of connections that never associate is cut off early. */
const DEFAULT_MAX_UNASSOCIATED = 32;
const DEFAULT_MAX_UNASSOCIATED_PER_ADDRESS = 8;
/** PS3.8's ARTIM timer: DCMTK's default is 30 s as well. */
const DEFAULT_ASSOCIATION_TIMEOUT_MS = 30_000;

export async function startDimseServer(deps: DimseDeps, opts: DimseServerOptions = {}): Promise<RunningDimseServer> {
  const { config } = deps;
  const port = opts.port ?? config.dimsePort;
  if (port === undefined) throw new Error('DIMSE_PORT is not set: the DICOM C-STORE SCP is off');
  const store: StoreInstance = opts.storeInstance ?? ingestStoreInstance;
  const maxAssociations = opts.maxAssociations ?? DEFAULT_MAX_ASSOCIATIONS;
  const closeGraceMs = opts.closeGraceMs ?? 10_000;
  const tls = opts.tls ?? (config.dimseTls ? readDimseTls(config.dimseTls) : undefined);
  const log: Logger = deps.logger.child({ component: 'dimse' });
  const allowedAets = allowedCallingAets(config);
  await mkdir(deps.storage.staging.dir, { recursive: true });
  const freeDisk = freeDiskProbe(deps.storage);
  await freeDisk.refresh();
  silenceLibraryLog();

  const connections: ScpShared['connections'] = new Set();
  /** Instances being received or stored, across all associations: close() waits for them. */
  const busy = new Set<Promise<unknown>>();
  let closing = false;
  let associationCounter = 0;
  let refusedInBurst = 0;
  const associationTimeoutMs = opts.associationTimeoutMs ?? DEFAULT_ASSOCIATION_TIMEOUT_MS;

  const shared: ScpShared = {
    deps,
    log,
    store,
    maxAssociations,
    allowedAets,
    freeDisk,
    connections,
    maxUnassociated: opts.maxUnassociated ?? DEFAULT_MAX_UNASSOCIATED,
    maxUnassociatedPerAddress: opts.maxUnassociatedPerAddress ?? DEFAULT_MAX_UNASSOCIATED_PER_ADDRESS,
    associationTimeoutMs,
    noteRefusedConnection(remoteAddress, why) {
      if (refusedInBurst++ > 0) return;
      log.warn({ remoteAddress }, `DICOM connections closed before associating: ${why}`);
      setTimeout(() => {
        if (refusedInBurst > 1) log.warn({ connections: refusedInBurst - 1 }, 'more DICOM connections were closed');
        refusedInBurst = 0;
      }, 60_000).unref();
    },
    closing: () => closing,
    activeAssociations: () => [...connections].filter((c) => c.accepted).length,
    nextAssociationId: () => ++associationCounter,
    track(work) {
      busy.add(work);
      void work.finally(() => busy.delete(work));
    },
  };
  const GatewayScp = gatewayScpClass(shared);

  const server = new Server(GatewayScp);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(new Error(`DIMSE_PORT ${port}: cannot listen (${err.message})`, { cause: err }));
    };
    const onListening = (): void => {
      server.off('networkError', onError);
      resolve();
    };
    server.once('networkError', onError);
    server.once('listening', onListening);
    server.listen(port, {
      associationTimeout: associationTimeoutMs,
      pduTimeout: opts.pduTimeoutMs ?? 60_000,
      logDatasets: false,
      logCommandDatasets: false,
      // DICOM TLS (PS3.15 B.9, BCP 195): TLS 1.2 or later only; with a CA, a peer without a certificate it
      // signed fails the handshake before any association is read.
      ...(tls
        ? {
            securityOptions: {
              cert: tls.cert,
              key: tls.key,
              ca: tls.ca,
              requestCert: tls.ca !== undefined,
              rejectUnauthorized: tls.ca !== undefined,
              minVersion: 'TLSv1.2',
            },
          }
        : {}),
    });
  });
  const actualPort = listeningPort(server);
  server.on('networkError', (err: Error) => {
    log.warn({ err: safeError(err) }, 'DICOM network error');
  });
  if (tls) {
    // Plain DICOM, an unknown or missing client certificate, an old TLS version: the peer sees only a
    // closed connection, so the reason is logged here (address and OpenSSL reason, nothing else).
    netServerOf(server)?.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      log.warn({ remoteAddress: socket.remoteAddress, err: safeError(err) }, 'DICOM TLS handshake failed');
    });
  }
  log.info(
    {
      port: actualPort,
      aeTitle: config.aeTitle,
      allowedAets: allowedAets.length || 'any',
      tls: tls ? (tls.ca ? 'client certificates required' : 'on') : 'off',
    },
    'DICOM C-STORE SCP listening',
  );

  let closed: Promise<void> | undefined;
  return {
    port: actualPort,
    close() {
      closed ??= (async () => {
        closing = true;
        const listener = netServerOf(server);
        const stopped = new Promise<void>((resolve) =>
          listener?.listening ? listener.close(() => resolve()) : resolve(),
        );
        // Let instances already on the wire finish and be acknowledged; then end the rest.
        const deadline = Date.now() + closeGraceMs;
        while (busy.size > 0 && Date.now() < deadline) {
          await Promise.race([Promise.allSettled([...busy]), delay(Math.max(0, deadline - Date.now()))]);
        }
        for (const connection of connections) connection.terminate();
        await Promise.allSettled([...busy]);
        await stopped;
        log.info('DICOM C-STORE SCP stopped');
      })();
      return closed;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

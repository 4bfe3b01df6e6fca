import { mkdir } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { AppDeps } from '../http/deps.ts';
import type { Logger } from '../log.ts';
import {
  allowedCallingAets,
  decideAssociation,
  decidePresentationContext,
  normalizeAeTitle,
  type AssociationDecision,
} from './associationPolicy.ts';
import { readDimseTls, type DimseTlsMaterial } from './tlsFiles.ts';
import {
  AbortReason,
  AbortSource,
  CEchoResponse,
  CStoreResponse,
  Dataset,
  listeningPort,
  MAX_PDU_LENGTH,
  netServerOf,
  PresentationContextResult,
  RejectReason,
  replaceCommandEncoder,
  replacePduAccumulator,
  RejectResult,
  RejectSource,
  Scp,
  Server,
  silenceLibraryLog,
  type Association,
  type CEchoRequest,
  type CEchoResponseType,
  type CStoreRequest,
  type CStoreResponseType,
  type PresentationContext,
  type ScpOptions,
  type ScpSocket,
} from './dcmjsDimse.ts';
import { storeInstance as ingestStoreInstance, type InstanceSource } from '../ingest/storeInstance.ts';
import { tempDir } from '../ingest/tempFiles.ts';
import { freeDiskProbe } from './freeDisk.ts';
import { InstanceSpool } from './instanceSpool.ts';
import { part10Header } from './part10Header.ts';
import { errorComment, lowDiskOutcome, outcomeForError, StoreStatus, type StoreOutcome } from './storeStatus.ts';
import { audit } from '../audit/audit.ts';

/**
 * DICOM C-STORE and C-ECHO SCP (PS3.4 Annexes A and B, PS3.7, PS3.8) on dcmjs-dimse.
 *
 * Each data set is streamed to a temporary Part-10 file under DATA_DIR/tmp as its fragments
 * arrive (dcmjs-dimse would otherwise collect it in memory), then handed to the ingest pipeline;
 * the C-STORE response is sent only after ingest has stored the instance durably, so a success
 * status means the instance is safe. Logs carry AE titles, addresses, SOP UIDs and counts, never
 * data set content.
 */

export interface DimseOrigin {
  via: 'dimse';
  callingAet?: string;
  remoteAddress?: string;
}

/** The ingest entry point (server/ingest/storeInstance.ts); replaceable in tests. */
export type StoreInstance = (deps: AppDeps, source: InstanceSource, origin: DimseOrigin) => Promise<unknown>;

export interface DimseServerOptions {
  /** Defaults to config.dimsePort; 0 picks a free port (tests). */
  port?: number;
  storeInstance?: StoreInstance;
  /** Associations open at once before new ones are refused (transient, local limit exceeded). */
  maxAssociations?: number;
  /** How long close() waits for instances being received or stored before aborting associations. */
  closeGraceMs?: number;
  /** dcmjs-dimse timeouts: from connection to A-ASSOCIATE-RQ, and between PDUs. */
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

interface SpoolEntry {
  kind: 'spool';
  spool: InstanceSpool;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  startedAt: number;
}
interface RefusedEntry {
  kind: 'refused';
  outcome: StoreOutcome;
  sopInstanceUid: string;
}
type Incoming = SpoolEntry | RefusedEntry;

/** A sink for data sets refused before they arrive (e.g. disk low): read off the wire and dropped. */
function discardSink(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

const REJECT_PARAMETERS: Record<Exclude<AssociationDecision, { accept: true }>['reason'], number> = {
  'calling-ae-not-recognized': RejectReason.CallingAeNotRecognized,
  'called-ae-not-recognized': RejectReason.CalledAeNotRecognized,
  'local-limit-exceeded': RejectReason.LocalLimitExceeded,
};

export async function startDimseServer(deps: AppDeps, opts: DimseServerOptions = {}): Promise<RunningDimseServer> {
  const { config } = deps;
  const port = opts.port ?? config.dimsePort;
  if (port === undefined) throw new Error('DIMSE_PORT is not set: the DICOM C-STORE SCP is off');
  const store: StoreInstance = opts.storeInstance ?? ingestStoreInstance;
  const maxAssociations = opts.maxAssociations ?? DEFAULT_MAX_ASSOCIATIONS;
  const closeGraceMs = opts.closeGraceMs ?? 10_000;
  const tls = opts.tls ?? (config.dimseTls ? readDimseTls(config.dimseTls) : undefined);
  const log: Logger = deps.logger.child({ component: 'dimse' });
  const allowedAets = allowedCallingAets(config);
  const tmpDir = tempDir(config);
  await mkdir(tmpDir, { recursive: true });
  const freeDisk = freeDiskProbe(config.dataDir);
  await freeDisk.refresh();
  silenceLibraryLog();

  const connections = new Set<GatewayScp>();
  /** Instances being received or stored, across all associations: close() waits for them. */
  const busy = new Set<Promise<unknown>>();
  let closing = false;
  let associationCounter = 0;

  class GatewayScp extends Scp {
    readonly #socket: ScpSocket;
    readonly #remoteAddress: string | undefined;
    #log: Logger;
    readonly #incoming = new Map<CStoreRequest, Incoming>();
    #callingAet: string | undefined;
    #accepted = false;
    #stored = 0;
    #failed = 0;
    #bytes = 0;
    #openedAt = Date.now();
    /** Settles when the current data set has been fully read (so close() can wait for it). */
    #receiving: { promise: Promise<void>; resolve: () => void } | undefined;

    constructor(socket: ScpSocket, options: ScpOptions) {
      super(socket, options);
      // Without TCP_NODELAY each small C-STORE-RSP waits for the peer's delayed ACK (~40 ms), which
      // caps a synchronous sender at about 20 instances/s (performance.md).
      socket.setNoDelay(true);
      this.#socket = socket;
      replacePduAccumulator(this, socket, (err) => {
        this.#log.warn({ err: safeError(err) }, 'DICOM association aborted: malformed PDU stream');
        this.#abortAndClose(AbortReason.UnrecognizedPdu);
      });
      replaceCommandEncoder(this);
      this.#remoteAddress = socket.remoteAddress;
      this.#log = log.child({ association: ++associationCounter, remoteAddress: this.#remoteAddress });
      connections.add(this);
      this.on('close', () => this.#closed());
    }

    override associationRequested(association: Association): void {
      const callingAet = normalizeAeTitle(association.getCallingAeTitle());
      const calledAet = normalizeAeTitle(association.getCalledAeTitle());
      this.#callingAet = callingAet;
      this.#log = this.#log.child({ callingAet, calledAet });
      const decision: AssociationDecision = closing
        ? {
            accept: false,
            result: 'transient',
            source: 'service-provider-presentation',
            reason: 'local-limit-exceeded',
            why: 'the gateway is shutting down',
          }
        : decideAssociation(
            { callingAet, calledAet, activeAssociations: [...connections].filter((c) => c.#accepted).length },
            { aeTitle: config.aeTitle, allowedAets, maxAssociations },
          );
      if (!decision.accept) {
        this.#log.warn({ reason: decision.reason }, `DICOM association rejected: ${decision.why}`);
        void audit(deps, {
          event: 'dimse-store',
          outcome: 'failure',
          actor: `ae:${callingAet}`,
          address: this.#remoteAddress ?? null,
          // The AE titles and reason let a C-MOVE retrieve explain why its node could not deliver.
          details: { rejected: decision.reason, calledAet, why: decision.why },
        });
        this.sendAssociationReject(
          decision.result === 'permanent' ? RejectResult.Permanent : RejectResult.Transient,
          decision.source === 'service-user' ? RejectSource.ServiceUser : RejectSource.ServiceProviderPresentation,
          REJECT_PARAMETERS[decision.reason],
        );
        // The requester closes the connection on A-ASSOCIATE-RJ; end our side too if it does not.
        setTimeout(() => this.#socket.destroy(), 2000).unref();
        return;
      }
      let accepted = 0;
      const refused: string[] = [];
      for (const proposed of association.getPresentationContexts()) {
        const context: PresentationContext = association.getPresentationContext(proposed.id);
        const choice = decidePresentationContext(context.getAbstractSyntaxUid(), context.getTransferSyntaxUids());
        if (choice.accept) {
          context.setResult(PresentationContextResult.Accept, choice.transferSyntaxUid);
          accepted++;
        } else {
          context.setResult(
            choice.reason === 'abstract-syntax-not-supported'
              ? PresentationContextResult.RejectAbstractSyntaxNotSupported
              : PresentationContextResult.RejectTransferSyntaxesNotSupported,
          );
          refused.push(`${context.getAbstractSyntaxUid()}: ${choice.reason}`);
        }
      }
      // Advertise our full receive size rather than echoing the requester's (often 16 KiB): fewer,
      // larger PDUs per instance. Our own PDUs are responses without data sets, so the requester's
      // limit is never at risk.
      association.setMaxPduLength(MAX_PDU_LENGTH);
      this.#accepted = true;
      this.#openedAt = Date.now();
      this.#log.info({ contextsAccepted: accepted, contextsRefused: refused.length }, 'DICOM association accepted');
      if (refused.length > 0) this.#log.debug({ refused }, 'presentation contexts refused');
      this.sendAssociationAccept();
    }

    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
      // The requester closes the connection after A-RELEASE-RP (PS3.8 7.2); if it does not, the
      // ARTIM-like timer here does, so a misbehaving peer cannot hold a connection open.
      setTimeout(() => this.#socket.destroy(), 5000).unref();
    }

    override cEchoRequest(request: CEchoRequest, callback: (response: CEchoResponseType) => void): void {
      const response = CEchoResponse.fromRequest(request);
      response.setStatus(StoreStatus.Success);
      this.#log.debug('C-ECHO');
      callback(response);
    }

    override createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable {
      const sopInstanceUid = request.getAffectedSopInstanceUid();
      const sopClassUid = request.getAffectedSopClassUid();
      const transferSyntaxUid = context.getAcceptedTransferSyntaxUid() ?? '';
      let resolveReceiving!: () => void;
      const receiving = new Promise<void>((resolve) => (resolveReceiving = resolve));
      this.#receiving = { promise: receiving, resolve: resolveReceiving };
      busy.add(receiving);
      void receiving.finally(() => busy.delete(receiving));

      const refuse = (outcome: StoreOutcome): Writable => {
        this.#incoming.set(request, { kind: 'refused', outcome, sopInstanceUid });
        return discardSink();
      };
      if (closing)
        return refuse({
          status: StoreStatus.OutOfResources,
          comment: 'Out of resources: the gateway is shutting down',
        });
      // Refuse before writing anything when the disk is known to be low; the reading is at most a
      // second old (ingest checks again, exactly, before it keeps the file).
      freeDisk.refresh().catch(() => undefined);
      const freeMb = freeDisk.lastMb();
      if (config.minFreeDiskMb > 0 && freeMb !== undefined && freeMb < config.minFreeDiskMb) {
        return refuse(lowDiskOutcome(freeMb, config.minFreeDiskMb));
      }
      if (context.getAbstractSyntaxUid() !== sopClassUid) {
        return refuse({
          status: 0xa900,
          comment: errorComment(`SOP Class ${sopClassUid} does not match the presentation context`),
        });
      }
      let header: Buffer;
      try {
        header = part10Header({
          sopClassUid,
          sopInstanceUid,
          transferSyntaxUid,
          sourceAeTitle: this.#callingAet,
          receivingAeTitle: config.aeTitle,
        });
      } catch (e) {
        return refuse({
          status: StoreStatus.CannotUnderstand,
          comment: errorComment(`C-STORE request: ${(e as Error).message}`),
        });
      }
      const spool = new InstanceSpool(config, header, {
        pause: () => this.#socket.pause(),
        resume: () => this.#socket.resume(),
      });
      this.#incoming.set(request, {
        kind: 'spool',
        spool,
        sopClassUid,
        sopInstanceUid,
        transferSyntaxUid,
        startedAt: Date.now(),
      });
      return spool;
    }

    override createDatasetFromStoreWritableStream(
      _writable: Writable,
      context: PresentationContext,
      callback: (dataset: InstanceType<typeof Dataset>) => void,
    ): void {
      // The data set is in the spool file; dcmjs-dimse only needs a placeholder to carry on.
      this.#receiving?.resolve();
      this.#receiving = undefined;
      callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));
    }

    override cStoreRequest(request: CStoreRequest, callback: (response: CStoreResponseType) => void): void {
      const work = this.#store(request).then((outcome) => {
        const response = CStoreResponse.fromRequest(request);
        response.setStatus(outcome.status);
        if (outcome.comment) response.setErrorComment(outcome.comment);
        if (outcome.status === StoreStatus.Success) this.#stored++;
        else this.#failed++;
        callback(response);
      });
      busy.add(work);
      void work.finally(() => busy.delete(work));
    }

    async #store(request: CStoreRequest): Promise<StoreOutcome> {
      const entry = this.#incoming.get(request);
      this.#incoming.delete(request);
      const sopInstanceUid = request.getAffectedSopInstanceUid();
      if (!entry) {
        this.#log.error({ sopInstanceUid }, 'C-STORE without a received data set');
        return { status: StoreStatus.ProcessingFailure, comment: 'Processing failure: no data set was received' };
      }
      if (entry.kind === 'refused') {
        this.#log.warn(
          { sopInstanceUid, status: hex(entry.outcome.status) },
          `C-STORE refused: ${entry.outcome.comment ?? ''}`,
        );
        return entry.outcome;
      }
      const { spool } = entry;
      try {
        await spool.finished();
        this.#bytes += spool.bytesWritten;
        await store(
          deps,
          { file: spool.path, prepare: (check, whileSyncing) => spool.prepare(check, whileSyncing) },
          { via: 'dimse', callingAet: this.#callingAet, remoteAddress: this.#remoteAddress },
        );
        await spool.close(); // already closed by prepare unless the store took the file by name
        this.#log.debug(
          { sopInstanceUid, bytes: spool.bytesWritten, ms: Date.now() - entry.startedAt },
          'C-STORE stored',
        );
        return { status: StoreStatus.Success };
      } catch (error) {
        const outcome = outcomeForError(error);
        // Ingest takes the file over (moved on success, deleted on failure); after a failure before
        // that point it is still ours to remove.
        await spool.discard().catch(() => undefined);
        this.#log.warn(
          {
            sopInstanceUid,
            sopClassUid: entry.sopClassUid,
            transferSyntaxUid: entry.transferSyntaxUid,
            status: hex(outcome.status),
            err: safeError(error),
          },
          `C-STORE failed: ${outcome.comment ?? ''}`,
        );
        return outcome;
      }
    }

    override abort(source: number, reason: number): void {
      this.#log.warn({ source, reason }, 'DICOM association aborted by the peer');
      // After A-ABORT the transport connection is closed (PS3.8 7.3.1); DCMTK waits up to 30 s for
      // the acceptor to do so.
      this.#socket.destroy();
    }

    /** Ends the association at once (shutdown): A-ABORT, then the socket. */
    terminate(): void {
      this.#abortAndClose(AbortReason.NotSpecified);
    }

    #abortAndClose(reason: number): void {
      if (this.#accepted) {
        try {
          this.sendAbort(AbortSource.ServiceProvider, reason);
        } catch {
          // The socket may already be gone.
        }
      }
      this.#socket.destroy();
    }

    #closed(): void {
      connections.delete(this);
      this.#receiving?.resolve();
      this.#receiving = undefined;
      // Data sets cut off by an abort or a dropped connection were never acknowledged: the sender
      // still has them and will resend, so their partial files are removed.
      for (const entry of this.#incoming.values()) {
        if (entry.kind === 'spool') void entry.spool.discard().catch(() => undefined);
      }
      const partial = this.#incoming.size;
      this.#incoming.clear();
      if (!this.#accepted) return;
      this.#log.info(
        {
          stored: this.#stored,
          failed: this.#failed,
          incomplete: partial,
          bytes: this.#bytes,
          seconds: (Date.now() - this.#openedAt) / 1000,
        },
        'DICOM association closed',
      );
      void audit(deps, {
        event: 'dimse-store',
        outcome: this.#failed > 0 && this.#stored === 0 ? 'failure' : 'success',
        actor: `ae:${this.#callingAet ?? ''}`,
        address: this.#remoteAddress ?? null,
        details: { stored: this.#stored, failed: this.#failed, incomplete: partial },
      });
    }
  }

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
      associationTimeout: opts.associationTimeoutMs ?? 30_000,
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

function hex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Error details for the log: name, code and message only (no data set content). */
function safeError(error: unknown): { name?: string; code?: unknown; message: string } {
  if (error instanceof Error)
    return { name: error.name, code: (error as NodeJS.ErrnoException).code, message: error.message };
  return { message: String(error) };
}

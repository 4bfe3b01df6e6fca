import { Writable } from 'node:stream';
import { audit } from '../audit/audit.ts';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { part10Header } from '../dicom/part10Header.ts';
import type { InstanceSource, StoreDeps } from '../ingest/storeInstance.ts';
import type { Logger } from '../log.ts';
import {
  decideAssociation,
  decidePresentationContext,
  normalizeAeTitle,
  type AssociationDecision,
} from './associationPolicy.ts';
import {
  AbortReason,
  AbortSource,
  CEchoResponse,
  CStoreResponse,
  Dataset,
  MAX_ACCEPTED_PDU_LENGTH,
  MAX_PDU_LENGTH,
  MAX_UNASSOCIATED_PDU_LENGTH,
  PresentationContextResult,
  RejectReason,
  replaceCommandEncoder,
  replacePduAccumulator,
  RejectResult,
  RejectSource,
  Scp,
  type Association,
  type CEchoRequest,
  type CEchoResponseType,
  type CStoreRequest,
  type CStoreResponseType,
  type PresentationContext,
  type ScpOptions,
  type ScpSocket,
} from './dcmjsDimse.ts';
import type { FreeDiskProbe } from './freeDisk.ts';
import { InstanceSpool } from './instanceSpool.ts';
import { commandCheck } from './datasetMatch.ts';
import { unassociatedRefusal } from './connectionLimits.ts';
import { hex, safeError } from './logFields.ts';
import { errorComment, lowDiskOutcome, outcomeForError, StoreStatus, type StoreOutcome } from './storeStatus.ts';

/** What the SCP uses: the instance store, the settings and the audit trail. */
export interface DimseDeps extends StoreDeps {
  config: Pick<
    Config,
    'aeTitle' | 'dimseAllowedAets' | 'dimsePort' | 'dimseTls' | 'minFreeDiskMb' | 'overwriteInstances' | 'pacsNodes'
  >;
  db: Database;
}

export interface DimseOrigin {
  via: 'dimse';
  callingAet?: string;
  remoteAddress?: string;
}

/** The ingest entry point (server/ingest/storeInstance.ts); replaceable in tests. */
export type StoreInstance = (deps: DimseDeps, source: InstanceSource, origin: DimseOrigin) => Promise<unknown>;

/** The server's state every association shares (scp.ts owns it). */
export interface ScpShared {
  deps: DimseDeps;
  log: Logger;
  store: StoreInstance;
  maxAssociations: number;
  /** Calling AE titles allowed to associate (empty: any), DIMSE_ALLOWED_AETS with the PACS nodes'. */
  allowedAets: readonly string[];
  freeDisk: FreeDiskProbe;
  connections: Set<{ readonly accepted: boolean; readonly remoteAddress: string | undefined; terminate(): void }>;
  /** Connections not yet associated, in all and from one address, before new ones are closed at once. */
  maxUnassociated: number;
  maxUnassociatedPerAddress: number;
  /** A connection not associated by then is closed (dcmjs-dimse's own timer never starts on the server side). */
  associationTimeoutMs: number;
  /** Logs refused connections once per burst, not once each. */
  noteRefusedConnection(remoteAddress: string | undefined, why: string): void;
  closing(): boolean;
  activeAssociations(): number;
  nextAssociationId(): number;
  /** Work close() waits for: an instance being received or stored. */
  track(work: Promise<unknown>): void;
}

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

/**
 * One association of the C-STORE/C-ECHO SCP (dcmjs-dimse makes one per connection). Each data set is streamed to a
 * staged Part-10 file as its fragments arrive and stored through ingest; the C-STORE response is sent only once the
 * instance is durable, so a success status means the instance is safe.
 */
export function gatewayScpClass(shared: ScpShared) {
  const { config } = shared.deps;
  return class GatewayScp extends Scp {
    readonly #socket: ScpSocket;
    readonly remoteAddress: string | undefined;
    #log: Logger;
    readonly #incoming = new Map<CStoreRequest, Incoming>();
    #callingAet: string | undefined;
    #accepted = false;

    /** Whether the association was accepted (counts toward the limit). */
    get accepted(): boolean {
      return this.#accepted;
    }
    #stored = 0;
    #failed = 0;
    #bytes = 0;
    #openedAt = Date.now();
    /** Settles when the current data set has been fully read (so close() can wait for it). */
    #receiving: { promise: Promise<void>; resolve: () => void } | undefined;

    constructor(socket: ScpSocket, options: ScpOptions) {
      super(socket, options);
      // Without TCP_NODELAY each small C-STORE-RSP waits for the peer's delayed ACK (~40 ms), which
      // caps a synchronous sender at about 20 instances/s (docs/performance.md).
      socket.setNoDelay(true);
      this.#socket = socket;
      this.remoteAddress = socket.remoteAddress;
      this.#log = shared.log.child({ association: shared.nextAssociationId(), remoteAddress: this.remoteAddress });
      const refusal = unassociatedRefusal(shared, this.remoteAddress);
      if (refusal) {
        shared.noteRefusedConnection(this.remoteAddress, refusal);
        socket.destroy();
        return;
      }
      replacePduAccumulator(
        this,
        socket,
        (err) => {
          this.#log.warn({ err: safeError(err) }, 'DICOM association aborted: malformed PDU stream');
          this.#abortAndClose(AbortReason.UnrecognizedPdu);
        },
        () => (this.#accepted ? MAX_ACCEPTED_PDU_LENGTH : MAX_UNASSOCIATED_PDU_LENGTH),
      );
      replaceCommandEncoder(this);
      shared.connections.add(this);
      const associationTimer = setTimeout(() => {
        if (this.#accepted) return;
        this.#log.warn(
          { seconds: shared.associationTimeoutMs / 1000 },
          'DICOM connection closed: no association within the association timeout',
        );
        this.#socket.destroy();
      }, shared.associationTimeoutMs);
      associationTimer.unref();
      this.on('close', () => {
        clearTimeout(associationTimer);
        this.#closed();
      });
    }

    override associationRequested(association: Association): void {
      const callingAet = normalizeAeTitle(association.getCallingAeTitle());
      const calledAet = normalizeAeTitle(association.getCalledAeTitle());
      this.#callingAet = callingAet;
      this.#log = this.#log.child({ callingAet, calledAet });
      const decision: AssociationDecision = shared.closing()
        ? {
            accept: false,
            result: 'transient',
            source: 'service-provider-presentation',
            reason: 'local-limit-exceeded',
            why: 'the gateway is shutting down',
          }
        : decideAssociation(
            { callingAet, calledAet, activeAssociations: shared.activeAssociations() },
            { aeTitle: config.aeTitle, allowedAets: [...shared.allowedAets], maxAssociations: shared.maxAssociations },
          );
      if (!decision.accept) {
        this.#log.warn({ reason: decision.reason }, `DICOM association rejected: ${decision.why}`);
        void audit(shared.deps, {
          event: 'dimse-store',
          outcome: 'failure',
          actor: `ae:${callingAet}`,
          address: this.remoteAddress ?? null,
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
      shared.track(receiving);

      const refuse = (outcome: StoreOutcome): Writable => {
        this.#incoming.set(request, { kind: 'refused', outcome, sopInstanceUid });
        return discardSink();
      };
      if (shared.closing())
        return refuse({
          status: StoreStatus.OutOfResources,
          comment: 'Out of resources: the gateway is shutting down',
        });
      // Refuse before writing anything when the disk is known to be low; the reading is at most a
      // second old (ingest checks again, exactly, before it keeps the file).
      shared.freeDisk.refresh().catch(() => undefined);
      const freeMb = shared.freeDisk.lastMb();
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
      const spool = new InstanceSpool(shared.deps.storage.staging, header, {
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
      shared.track(work);
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
        const matchesCommand = commandCheck(entry.sopClassUid, entry.sopInstanceUid);
        await shared.store(
          shared.deps,
          {
            file: spool.path,
            prepare: (check, whileSyncing) =>
              spool.prepare((header, size) => {
                matchesCommand(header);
                check(header, size);
              }, whileSyncing),
          },
          { via: 'dimse', callingAet: this.#callingAet, remoteAddress: this.remoteAddress },
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
      shared.connections.delete(this);
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
      void audit(shared.deps, {
        event: 'dimse-store',
        outcome: this.#failed > 0 && this.#stored === 0 ? 'failure' : 'success',
        actor: `ae:${this.#callingAet ?? ''}`,
        address: this.remoteAddress ?? null,
        details: { stored: this.#stored, failed: this.#failed, incomplete: partial },
      });
    }
  };
}

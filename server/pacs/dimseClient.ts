import type { Staging } from '../storage/storage.ts';
import {
  CFindRequest,
  CGetRequest,
  CMoveRequest,
  CStoreResponse,
  Client,
  receiveClientStores,
  silenceLibraryLog,
  Status,
  type Association,
  type CFindRequestType,
  type CGetRequestType,
  type CGetResponseType,
  type CMoveRequestType,
  type CMoveResponseType,
  type CStoreRequest as CStoreRequestType,
  type CStoreResponseType,
  type DimseClient,
} from '../dimse/dcmjsDimse.ts';
import { InstanceSpool } from '../dimse/instanceSpool.ts';
import { part10Header } from '../dicom/part10Header.ts';
import { StoreStatus } from '../dimse/storeStatus.ts';
import { PacsError } from './dicomwebClient.ts';
import type { PacsNode } from '../config/pacsNodes.ts';

/**
 * DIMSE query/retrieve SCU for nodes that speak no DICOMweb: C-FIND at study and series level
 * (Study Root), C-GET, which brings the instances back on the same association, so the node
 * needs no route back to us, and C-MOVE for nodes without C-GET (they send to our SCP). Each instance received during a C-GET is streamed to a temp Part-10
 * file (as the SCP does) and handed to `onInstance` before its C-STORE response is sent, so a
 * success status to the PACS means the instance is stored. Every failure is a PacsError that says
 * whether trying again can help.
 */

type AnyRequest = CFindRequestType | CGetRequestType | CMoveRequestType;
type StatusResponse = {
  getStatus(): number;
  getErrorComment?(): string | undefined;
  getDataset(): { getElements(): Record<string, unknown> } | undefined;
};

export type DimseElements = Record<string, unknown>;

export interface DimseOptions {
  /** Our AE title (AE_TITLE), the calling AE the node must know. */
  callingAeTitle: string;
  signal?: AbortSignal;
  connectTimeoutMs?: number;
  /** Longest silence between two PDUs before the association is given up. */
  pduTimeoutMs?: number;
}

function hex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** PS3.4 C.4 failure statuses, in words. */
export function describeQrStatus(status: number): string {
  if ((status & 0xff00) === 0xa700) return `out of resources (${hex(status)})`;
  if (status === 0xa900) return `the query does not match the SOP class (${hex(status)})`;
  if (status === 0xa801) return `move destination unknown (${hex(status)})`;
  if (status === 0x0122) return `SOP class not supported (${hex(status)})`;
  if (status === 0xfe00) return `cancelled (${hex(status)})`;
  if ((status & 0xf000) === 0xc000) return `unable to process (${hex(status)})`;
  return `status ${hex(status)}`;
}

/**
 * Runs one request on its own association and settles when the association has closed. `onResponse`
 * sees every response; the last one's status decides the outcome.
 */
function runAssociation(
  node: PacsNode,
  request: AnyRequest,
  what: string,
  options: DimseOptions,
  onResponse: (response: StatusResponse) => void,
  setup?: (client: DimseClient) => void,
): Promise<number> {
  const dimse = node.dimse;
  if (!dimse) return Promise.reject(new PacsError(`PACS node "${node.name}" has no DIMSE address`, false));
  silenceLibraryLog();
  const { signal } = options;
  signal?.throwIfAborted();
  return new Promise<number>((resolve, reject) => {
    const client = new Client();
    let finalStatus: number | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else if (finalStatus === undefined)
        reject(
          new PacsError(
            `PACS node "${node.name}" closed the association without answering when asked to ${what}`,
            true,
          ),
        );
      else resolve(finalStatus);
    };
    const onAbort = (): void => {
      try {
        client.abort();
      } catch {
        // not connected yet, or already closed
      }
      finish(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('response', (response: StatusResponse) => {
      const status = response.getStatus();
      if (status !== Status.Pending && status !== 0xff01) finalStatus = status;
      onResponse(response);
    });
    const on = client.on.bind(client) as (event: string, listener: (...args: unknown[]) => void) => void;
    on('networkError', (e) =>
      finish(
        new PacsError(
          `could not reach PACS node "${node.name}" (${dimse.host}:${dimse.port}) over DIMSE to ${what}: ${(e as Error)?.message?.replace(/^.*-> /, '') ?? 'network error'}`,
          true,
        ),
      ),
    );
    on('associationRejected', (result) => {
      const r = result as { reason?: number; result?: number } | undefined;
      finish(
        new PacsError(
          `PACS node "${node.name}" rejected our association (AE title ${options.callingAeTitle} calling ${dimse.aeTitle}${r?.reason !== undefined ? `, reason ${r.reason}` : ''}) when asked to ${what}; check its AE configuration`,
          r?.result === 2,
        ),
      );
    });
    on('associationAccepted', (assoc) => {
      // A node that refuses the query/retrieve context accepts the association but cannot answer.
      const a = assoc as Association;
      const asked = request.getAffectedSopClassUid();
      const ok = a.getPresentationContexts().some((c) => {
        const ctx = a.getPresentationContext(c.id);
        return ctx.getAbstractSyntaxUid() === asked && ctx.getResult() === 0;
      });
      const service = request instanceof CGetRequest ? 'C-GET' : request instanceof CMoveRequest ? 'C-MOVE' : 'C-FIND';
      if (!ok)
        finish(
          new PacsError(
            `PACS node "${node.name}" does not offer ${what} over DIMSE (it refused the ${service} presentation context)`,
            false,
          ),
        );
    });
    on('closed', () => finish());
    setup?.(client);
    client.addRequest(request);
    client.send(dimse.host, dimse.port, options.callingAeTitle, dimse.aeTitle, {
      connectTimeout: options.connectTimeoutMs ?? 15_000,
      associationTimeout: 60_000,
      pduTimeout: options.pduTimeoutMs ?? 120_000,
      logCommandDatasets: false,
      logDatasets: false,
    });
  });
}

/** Identifier keys a C-FIND matches on and asks back (empty = return key). */
export async function cFind(
  node: PacsNode,
  level: 'STUDY' | 'SERIES',
  keys: DimseElements,
  options: DimseOptions & { limit?: number },
): Promise<DimseElements[]> {
  const request =
    level === 'STUDY' ? CFindRequest.createStudyFindRequest(keys) : CFindRequest.createSeriesFindRequest(keys);
  const what = level === 'STUDY' ? 'search studies' : 'search the series of a study';
  const rows: DimseElements[] = [];
  const limit = options.limit ?? Infinity;
  let comment: string | undefined;
  const status = await runAssociation(node, request, what, options, (response) => {
    const s = response.getStatus();
    if ((s === Status.Pending || s === 0xff01) && rows.length < limit) {
      const ds = response.getDataset();
      if (ds) rows.push(ds.getElements());
    }
    if (s !== Status.Pending && s !== 0xff01 && s !== Status.Success) comment = response.getErrorComment?.();
  });
  if (status !== Status.Success && status !== 0xfe00) {
    throw new PacsError(
      `PACS node "${node.name}" answered the C-FIND to ${what} with ${describeQrStatus(status)}${comment ? `: ${comment}` : ''}`,
      (status & 0xff00) === 0xa700,
    );
  }
  return rows;
}

export interface CGetOutcome {
  /** Instances received and accepted by onInstance. */
  stored: number;
  /** Instances received that onInstance refused (the reasons are in `refused`). */
  refused: string[];
  /** The node's own counts from its final response. */
  completed: number;
  failed: number;
  warnings: number;
  status: number;
}

export type InstanceOutcome = { stored: true } | { stored: false; status: number; reason: string };

/**
 * C-GET of a study or series. `onInstance` gets a complete Part-10 temp file and takes it over
 * (storeInstance moves or deletes it); its outcome becomes the C-STORE status sent back.
 */
export async function cGet(
  staging: Staging,
  node: PacsNode,
  target: { studyUid: string; seriesUid?: string },
  onInstance: (file: string, index: number) => Promise<InstanceOutcome>,
  options: DimseOptions & { onProgress?: (p: { remaining: number; completed: number; failed: number }) => void },
): Promise<CGetOutcome> {
  const request = target.seriesUid
    ? CGetRequest.createSeriesGetRequest(target.studyUid, target.seriesUid)
    : CGetRequest.createStudyGetRequest(target.studyUid);
  // Every storage class is proposed with us as SCP (role selection), the C-GET way to receive.
  request.setAddStorageSopClassesToAssociation(true);
  const what = target.seriesUid ? 'send a series' : 'send a study';
  const outcome: CGetOutcome = { stored: 0, refused: [], completed: 0, failed: 0, warnings: 0, status: -1 };
  const spools = new Map<CStoreRequestType, InstanceSpool>();
  const pending = new Set<Promise<unknown>>();
  let received = 0;
  let comment: string | undefined;
  let ownFailure: Error | undefined;

  const setup = (client: DimseClient): void => {
    const on = client.on.bind(client) as (event: string, listener: (...args: unknown[]) => void) => void;
    on('cStoreRequest', (req, cb) => {
      const storeRequest = req as CStoreRequestType;
      const callback = cb as (response: CStoreResponseType) => void;
      const spool = spools.get(storeRequest);
      spools.delete(storeRequest);
      const index = ++received;
      const work = (async (): Promise<InstanceOutcome> => {
        if (!spool) return { stored: false, status: StoreStatus.ProcessingFailure, reason: 'no data set was received' };
        try {
          await spool.finished();
          await spool.close(); // onInstance takes the file by name
        } catch (e) {
          await spool.discard().catch(() => undefined);
          return {
            stored: false,
            status: StoreStatus.OutOfResources,
            reason: `could not write the instance: ${(e as Error).message}`,
          };
        }
        try {
          return await onInstance(spool.path, index);
        } catch (e) {
          await spool.discard().catch(() => undefined);
          throw e;
        }
      })();
      const responded = work.then(
        (r) => {
          if (r.stored) outcome.stored += 1;
          else outcome.refused.push(`instance ${index}: ${r.reason}`);
          const response = CStoreResponse.fromRequest(storeRequest);
          response.setStatus(r.stored ? StoreStatus.Success : r.status);
          callback(response);
        },
        (e: unknown) => {
          // Our own failure (database, disk): the PACS is told, and the retrieve fails to be retried.
          outcome.refused.push(`instance ${index}: ${(e as Error).message}`);
          const response = CStoreResponse.fromRequest(storeRequest);
          response.setStatus(StoreStatus.ProcessingFailure);
          callback(response);
          try {
            client.abort();
          } catch {
            // already closed
          }
          ownFailure ??= e as Error;
        },
      );
      pending.add(responded);
      void responded.finally(() => pending.delete(responded));
    });
  };

  const status = await runAssociation(
    node,
    request,
    what,
    options,
    (response) => {
      const r = response as unknown as CGetResponseType;
      const s = response.getStatus();
      outcome.completed = r.getCompleted?.() ?? outcome.completed;
      outcome.failed = r.getFailures?.() ?? outcome.failed;
      outcome.warnings = r.getWarnings?.() ?? outcome.warnings;
      if (s === Status.Pending)
        options.onProgress?.({
          remaining: r.getRemaining?.() ?? 0,
          completed: outcome.completed,
          failed: outcome.failed,
        });
      else if (s !== Status.Success) comment = response.getErrorComment?.();
    },
    (client) => {
      setup(client);
      // The client builds its network in send(); hook the C-STORE sink once it exists.
      queueMicrotask(() => hookNetwork(client));
    },
  ).finally(async () => {
    await Promise.allSettled([...pending]);
    for (const spool of spools.values()) await spool.discard().catch(() => undefined);
  });

  function hookNetwork(client: DimseClient): void {
    const hooked = receiveClientStores(client, (context, storeRequest, socket) => {
      const header = part10Header({
        sopClassUid: storeRequest.getAffectedSopClassUid(),
        sopInstanceUid: storeRequest.getAffectedSopInstanceUid(),
        transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
        sourceAeTitle: node.dimse?.aeTitle,
        receivingAeTitle: options.callingAeTitle,
      });
      const spool = new InstanceSpool(staging, header, {
        pause: () => socket?.pause(),
        resume: () => socket?.resume(),
      });
      spools.set(storeRequest, spool);
      return spool;
    });
    if (!hooked)
      ownFailure ??= new Error('dcmjs-dimse is not the version this server was built with (C-GET receiving)');
  }

  if (ownFailure) throw ownFailure;
  outcome.status = status;
  if (status !== Status.Success && (status & 0xf000) !== 0xb000) {
    throw new PacsError(
      `PACS node "${node.name}" answered the C-GET with ${describeQrStatus(status)}${comment ? `: ${comment}` : ''}${outcome.completed || outcome.failed ? ` (${outcome.completed} sent, ${outcome.failed} failed)` : ''}`,
      (status & 0xff00) === 0xa700 || status === 0xfe00,
    );
  }
  return outcome;
}

export interface CMoveOutcome {
  completed: number;
  failed: number;
  warnings: number;
  status: number;
}

/** A C-MOVE the node ended with a failure status; the outcome lets the caller find out why. */
export class CMoveFailedError extends PacsError {
  readonly outcome: CMoveOutcome;
  constructor(message: string, retryable: boolean, outcome: CMoveOutcome) {
    super(message, retryable);
    this.name = 'CMoveFailedError';
    this.outcome = outcome;
  }
}

/**
 * C-MOVE of a study or series to `destinationAeTitle` (our SCP). The instances arrive on separate
 * associations the node opens to us and are stored by the SCP; this settles on the final response.
 */
export async function cMove(
  node: PacsNode,
  destinationAeTitle: string,
  target: { studyUid: string; seriesUid?: string },
  options: DimseOptions & { onProgress?: (p: { remaining: number; completed: number; failed: number }) => void },
): Promise<CMoveOutcome> {
  const request = target.seriesUid
    ? CMoveRequest.createSeriesMoveRequest(destinationAeTitle, target.studyUid, target.seriesUid)
    : CMoveRequest.createStudyMoveRequest(destinationAeTitle, target.studyUid);
  const what = target.seriesUid ? 'send a series' : 'send a study';
  const outcome: CMoveOutcome = { completed: 0, failed: 0, warnings: 0, status: -1 };
  let comment: string | undefined;
  const status = await runAssociation(node, request, what, options, (response) => {
    const r = response as unknown as CMoveResponseType;
    const s = response.getStatus();
    outcome.completed = r.getCompleted?.() ?? outcome.completed;
    outcome.failed = r.getFailures?.() ?? outcome.failed;
    outcome.warnings = r.getWarnings?.() ?? outcome.warnings;
    if (s === Status.Pending)
      options.onProgress?.({
        remaining: r.getRemaining?.() ?? 0,
        completed: outcome.completed,
        failed: outcome.failed,
      });
    else if (s !== Status.Success) comment = response.getErrorComment?.();
  });
  outcome.status = status;
  if (status === 0xa801) {
    throw new PacsError(
      `PACS node "${node.name}" does not know our AE title ${destinationAeTitle} as a C-MOVE destination; register it there with this server's address and DIMSE_PORT`,
      false,
    );
  }
  if (status !== Status.Success && (status & 0xf000) !== 0xb000) {
    // Several PACS (Orthanc among them) answer an unknown destination, or one that refused them, with
    // a plain 0xC000: the caller looks at what reached our SCP to say which.
    throw new CMoveFailedError(
      `PACS node "${node.name}" answered the C-MOVE with ${describeQrStatus(status)}${comment ? `: ${comment}` : ''}${outcome.completed || outcome.failed ? ` (${outcome.completed} sent, ${outcome.failed} failed)` : ''}`,
      (status & 0xff00) === 0xa700 || status === 0xfe00,
      outcome,
    );
  }
  return outcome;
}

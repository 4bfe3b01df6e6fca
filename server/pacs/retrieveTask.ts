import { open } from 'node:fs/promises';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { InstanceRejectedError } from '../dicom/failure.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { setAsidePartialSeries } from '../dicomIndex/seriesGrouping.ts';
import { PermanentError } from '../errors.ts';
import { storeInstance, type StoreDeps } from '../ingest/storeInstance.ts';
import type { PacsRetrievePayload } from '../jobs/kinds.ts';
import type { TaskHandler, TaskHelpers } from '../jobs/task.ts';
import { noteSeriesRetrieved } from '../results/retrievedSeries.ts';
import { outcomeForError } from '../dimse/storeStatus.ts';
import { DicomwebClient, PacsError } from './dicomwebClient.ts';
import { cGet, type InstanceOutcome } from './dimseClient.ts';
import { retrieveByMove } from './moveRetrieve.ts';
import { findNode, type PacsNode } from '../config/pacsNodes.ts';

/**
 * Kind `pacs-retrieve`: a study or series is fetched from a PACS node with WADO-RS (or C-GET when
 * the node speaks only DIMSE), each instance streamed to a temp file and stored through
 * `storeInstance` like any other arrival, so the usual grouping queues the process job once the
 * series is complete; the grouping waits while this job is unfinished (series/pendingRetrieve.ts). A node that cannot be reached is
 * retried with backoff; refused credentials or an unknown study fail at once with the reason.
 */

export interface RetrieveDeps extends StoreDeps {
  config: Pick<Config, 'pacsNodes' | 'minFreeDiskMb' | 'overwriteInstances' | 'aeTitle' | 'dimsePort'>;
  db: Database;
}

type RetrievePayload = PacsRetrievePayload;

export function parseRetrievePayload(p: unknown): RetrievePayload {
  const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
  if (typeof o.node !== 'string' || o.node === '')
    throw new PermanentError('invalid pacs-retrieve payload: "node" is missing');
  if (!isUsableUid(o.studyInstanceUid))
    throw new PermanentError('invalid pacs-retrieve payload: "studyInstanceUid" is not a UID');
  if (o.seriesInstanceUid !== undefined && !isUsableUid(o.seriesInstanceUid))
    throw new PermanentError('invalid pacs-retrieve payload: "seriesInstanceUid" is not a UID');
  return {
    node: o.node,
    studyInstanceUid: o.studyInstanceUid,
    ...(o.seriesInstanceUid ? { seriesInstanceUid: o.seriesInstanceUid as string } : {}),
  };
}

/** Turns a PacsError into what the queue understands: retryable errors stay plain, the rest are permanent. */
export function asTaskError(e: unknown): unknown {
  if (e instanceof PacsError && !e.retryable) return new PermanentError(e.message, { cause: e });
  return e;
}

/** How many instances the node says it holds, for progress; undefined when it does not say. */
async function expectedCount(
  client: DicomwebClient,
  p: RetrievePayload,
  signal: AbortSignal,
): Promise<number | undefined> {
  const q = new URLSearchParams({ includefield: '00201209' });
  if (p.seriesInstanceUid) q.set('SeriesInstanceUID', p.seriesInstanceUid);
  const rows = await client.searchSeries(p.studyInstanceUid, q, signal);
  const n = rows.reduce((sum, r) => sum + Number(r['00201209']?.Value?.[0] ?? 0), 0);
  return n > 0 ? n : undefined;
}

/** Outcome of storing one retrieved instance through the ingest pipeline. */
interface RetrieveTally {
  stored: number;
  rejected: string[];
  series: Set<string>;
}

async function storeRetrieved(
  deps: RetrieveDeps,
  node: PacsNode,
  file: string,
  index: number,
  tally: RetrieveTally,
): Promise<InstanceOutcome> {
  try {
    const s = await storeInstance(deps, { file }, { via: 'pacs', remoteAddress: node.name });
    tally.stored += 1;
    tally.series.add(s.seriesInstanceUid);
    return { stored: true };
  } catch (e) {
    if (!(e instanceof InstanceRejectedError)) throw e;
    tally.rejected.push(`instance ${index}: ${e.message}`);
    const outcome = outcomeForError(e);
    return { stored: false, status: outcome.status, reason: e.message };
  }
}

/** WADO-RS: each part streamed to a temp file, then stored. Returns the number of parts the node sent. */
async function retrieveDicomweb(
  deps: RetrieveDeps,
  node: PacsNode,
  p: RetrievePayload,
  helpers: TaskHelpers,
  tally: RetrieveTally,
): Promise<number> {
  const client = new DicomwebClient(node);
  const expected = await expectedCount(client, p, helpers.signal);
  helpers.log(
    `retrieving a ${p.seriesInstanceUid ? 'series' : 'study'} from ${node.name} over WADO-RS${expected ? ` (${expected} instances)` : ''}`,
  );
  let lastProgress = 0;
  return await client.retrieve(
    { studyUid: p.studyInstanceUid, seriesUid: p.seriesInstanceUid },
    async (chunks, index) => {
      const file = await deps.storage.staging.newFile('.dcm');
      const fh = await open(file, 'w');
      try {
        for await (const chunk of chunks) await fh.write(chunk);
      } catch (e) {
        await fh.close();
        await deps.storage.staging.remove(file);
        throw e;
      }
      await fh.close();
      await storeRetrieved(deps, node, file, index, tally);
      if (Date.now() - lastProgress > 500) {
        lastProgress = Date.now();
        const pct = expected ? 5 + (90 * Math.min(index, expected)) / expected : Math.min(90, 5 + index);
        await helpers.progress(
          pct,
          `received ${index}${expected ? ` of ${expected}` : ''} instances from ${node.name}`,
        );
      }
    },
    helpers.signal,
  );
}

/** C-GET: the node sends each instance back on our association as a C-STORE sub-operation. */
async function retrieveDimse(
  deps: RetrieveDeps,
  node: PacsNode,
  p: RetrievePayload,
  helpers: TaskHelpers,
  tally: RetrieveTally,
): Promise<number> {
  helpers.log(`retrieving a ${p.seriesInstanceUid ? 'series' : 'study'} from ${node.name} over DIMSE C-GET`);
  let lastProgress = 0;
  let progress: Promise<void> = Promise.resolve();
  const out = await cGet(
    deps.storage.staging,
    node,
    { studyUid: p.studyInstanceUid, seriesUid: p.seriesInstanceUid },
    (file, index) => storeRetrieved(deps, node, file, index, tally),
    {
      callingAeTitle: deps.config.aeTitle,
      signal: helpers.signal,
      onProgress: ({ remaining, completed, failed }) => {
        if (Date.now() - lastProgress < 500) return;
        lastProgress = Date.now();
        const total = remaining + completed + failed;
        const pct = total > 0 ? 5 + (90 * (completed + failed)) / total : 5;
        progress = progress
          .then(() => helpers.progress(pct, `received ${completed + failed} of ${total} instances from ${node.name}`))
          .catch(() => undefined);
      },
    },
  );
  await progress;
  if (out.failed > 0) helpers.log(`${node.name} reports ${out.failed} instance(s) it could not send`);
  if (out.failed > 0 && tally.rejected.length < out.failed) {
    // Sub-operations that failed on the node's side (not refused by us): the series would be partial.
    throw new PacsError(
      `PACS node "${node.name}" could not send ${out.failed} of ${out.completed + out.failed} instances (C-GET sub-operations failed on its side)`,
      true,
    );
  }
  return out.completed + out.failed + out.warnings;
}

/** C-MOVE: the node sends to our SCP, which stores what arrives (moveRetrieve.ts). */
async function retrieveDimseMove(
  deps: RetrieveDeps,
  node: PacsNode,
  p: RetrievePayload,
  helpers: TaskHelpers,
  tally: RetrieveTally,
): Promise<number> {
  const moved = await retrieveByMove(deps, node, p, helpers);
  for (const uid of moved.series) tally.series.add(uid);
  tally.stored = moved.delivered;
  return moved.delivered;
}

export function pacsRetrieveTask(deps: RetrieveDeps): TaskHandler<RetrievePayload> {
  return async (job, helpers) => {
    const p = parseRetrievePayload(job.payload);
    const node = findNode(deps.config.pacsNodes, p.node);
    if (!node) throw new PermanentError(`PACS node "${p.node}" is not configured (any more); see PACS_NODES`);
    const what = p.seriesInstanceUid ? 'series' : 'study';
    try {
      await helpers.progress(1, `asking ${node.name} for the ${what}`);
      const tally: RetrieveTally = { stored: 0, rejected: [], series: new Set() };
      const parts = node.dicomweb
        ? await retrieveDicomweb(deps, node, p, helpers, tally)
        : node.dimse?.retrieve === 'move'
          ? await retrieveDimseMove(deps, node, p, helpers, tally)
          : await retrieveDimse(deps, node, p, helpers, tally);
      const { stored, rejected, series } = tally;
      for (const r of rejected.slice(0, 20)) helpers.log(`not stored: ${r}`);
      if (parts === 0 && stored === 0)
        throw new PermanentError(`PACS node "${node.name}" sent no instances for this ${what}`);
      if (stored === 0)
        throw new PermanentError(
          `none of the ${parts} instances from ${node.name} could be stored: ${rejected[0] ?? 'unknown reason'}`,
        );
      for (const uid of series) await noteSeriesRetrieved(deps.db, uid, node.name);
      helpers.log(
        `stored ${stored} of ${Math.max(parts, stored)} instances in ${series.size} series${rejected.length ? `; ${rejected.length} refused` : ''}`,
      );
      await helpers.progress(100, `retrieved ${stored} instances from ${node.name}`);
    } catch (e) {
      const err = asTaskError(e);
      // Shutdown and lost leases abort the signal too, and the job runs again: only a real end counts.
      const final =
        (err as { retryable?: unknown }).retryable === false ||
        (job.attempt >= job.maxAttempts && !helpers.signal.aborted);
      if (final) {
        const n = await setAsidePartialSeries(
          deps.db,
          p,
          `the retrieve from ${node.name} failed before the ${what} was complete`,
        ).catch(() => 0);
        if (n > 0)
          helpers.log(`${n} partly retrieved series set aside, not processed; retrieve again to complete them`);
      }
      throw err;
    }
  };
}

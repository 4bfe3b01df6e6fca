import { open } from 'node:fs/promises';
import type { AppDeps } from '../http/deps.ts';
import { InstanceRejectedError } from '../dicom/failure.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { storeInstance } from '../ingest/storeInstance.ts';
import { newTempPath, removeTemp } from '../ingest/tempFiles.ts';
import { PermanentError, type TaskHandler } from '../jobs/task.ts';
import { DicomwebClient, PacsError } from './dicomwebClient.ts';
import { findNode } from './nodes.ts';

/**
 * Kind `pacs-retrieve`: a study or series is fetched from a PACS node with WADO-RS, each instance
 * streamed to a temp file and stored through `storeInstance` like any other arrival, so the usual
 * grouping queues the process job once the series is complete. A node that cannot be reached is
 * retried with backoff; refused credentials or an unknown study fail at once with the reason.
 */

export const PACS_RETRIEVE = 'pacs-retrieve';

export interface RetrievePayload {
  node: string;
  studyInstanceUid: string;
  seriesInstanceUid?: string;
}

export function parseRetrievePayload(p: unknown): RetrievePayload {
  const o = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
  if (typeof o.node !== 'string' || o.node === '') throw new PermanentError('invalid pacs-retrieve payload: "node" is missing');
  if (!isUsableUid(o.studyInstanceUid)) throw new PermanentError('invalid pacs-retrieve payload: "studyInstanceUid" is not a UID');
  if (o.seriesInstanceUid !== undefined && !isUsableUid(o.seriesInstanceUid)) throw new PermanentError('invalid pacs-retrieve payload: "seriesInstanceUid" is not a UID');
  return { node: o.node, studyInstanceUid: o.studyInstanceUid, ...(o.seriesInstanceUid ? { seriesInstanceUid: o.seriesInstanceUid as string } : {}) };
}

/** Turns a PacsError into what the queue understands: retryable errors stay plain, the rest are permanent. */
export function asTaskError(e: unknown): unknown {
  if (e instanceof PacsError && !e.retryable) return new PermanentError(e.message, { cause: e });
  return e;
}

/** How many instances the node says it holds, for progress; undefined when it does not say. */
async function expectedCount(client: DicomwebClient, p: RetrievePayload, signal: AbortSignal): Promise<number | undefined> {
  const q = new URLSearchParams({ includefield: '00201209' });
  if (p.seriesInstanceUid) q.set('SeriesInstanceUID', p.seriesInstanceUid);
  const rows = await client.searchSeries(p.studyInstanceUid, q, signal);
  const n = rows.reduce((sum, r) => sum + Number(r['00201209']?.Value?.[0] ?? 0), 0);
  return n > 0 ? n : undefined;
}

export function pacsRetrieveTask(deps: AppDeps): TaskHandler<RetrievePayload> {
  return async (job, helpers) => {
    const p = parseRetrievePayload(job.payload);
    const node = findNode(deps.config.pacsNodes, p.node);
    if (!node) throw new PermanentError(`PACS node "${p.node}" is not configured (any more); see PACS_NODES`);
    if (!node.dicomweb) {
      throw new PermanentError(`PACS node "${node.name}" is configured for DIMSE only; retrieval over C-MOVE/C-GET is not available yet, give the node a DICOMweb address`);
    }
    const client = new DicomwebClient(node);
    const what = p.seriesInstanceUid ? 'series' : 'study';
    try {
      await helpers.progress(1, `asking ${node.name} for the ${what}`);
      const expected = await expectedCount(client, p, helpers.signal);
      helpers.log(`retrieving a ${what} from ${node.name}${expected ? ` (${expected} instances)` : ''}`);
      let stored = 0;
      const rejected: string[] = [];
      const series = new Set<string>();
      let lastProgress = 0;
      const parts = await client.retrieve(
        { studyUid: p.studyInstanceUid, seriesUid: p.seriesInstanceUid },
        async (chunks, index) => {
          const file = await newTempPath(deps.config, '.dcm');
          const fh = await open(file, 'w');
          try {
            for await (const chunk of chunks) await fh.write(chunk);
          } catch (e) {
            await fh.close();
            await removeTemp(file);
            throw e;
          }
          await fh.close();
          try {
            const s = await storeInstance(deps, { file }, { via: 'pacs', remoteAddress: node.name });
            stored += 1;
            series.add(s.seriesInstanceUid);
          } catch (e) {
            if (!(e instanceof InstanceRejectedError)) throw e;
            rejected.push(`instance ${index}: ${e.message}`);
          }
          if (Date.now() - lastProgress > 500) {
            lastProgress = Date.now();
            const pct = expected ? 5 + (90 * Math.min(index, expected)) / expected : Math.min(90, 5 + index);
            await helpers.progress(pct, `received ${index}${expected ? ` of ${expected}` : ''} instances from ${node.name}`);
          }
        },
        helpers.signal,
      );
      for (const r of rejected.slice(0, 20)) helpers.log(`not stored: ${r}`);
      if (parts === 0) throw new PermanentError(`PACS node "${node.name}" sent no instances for this ${what}`);
      if (stored === 0) throw new PermanentError(`none of the ${parts} instances from ${node.name} could be stored: ${rejected[0] ?? 'unknown reason'}`);
      for (const uid of series) {
        await deps.db.query(
          `INSERT INTO pacs_retrieved_series (series_uid, node) VALUES ($1, $2)
           ON CONFLICT (series_uid, node) DO UPDATE SET retrieved_at = now()`,
          [uid, node.name],
        );
      }
      helpers.log(`stored ${stored} of ${parts} instances in ${series.size} series${rejected.length ? `; ${rejected.length} refused` : ''}`);
      await helpers.progress(100, `retrieved ${stored} instances from ${node.name}`);
    } catch (e) {
      throw asTaskError(e);
    }
  };
}

import { Router } from '@koa/router';
import type { Context } from 'koa';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { Queue } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import { auditPatientDataRead } from '../auth/auditRequest.ts';
import { httpError } from '../errors.ts';
import { isUsableUid } from '../dicom/uid.ts';
import { getResult } from '../results/readResults.ts';
import { DicomwebClient, PacsError, jsonText, jsonTexts, type DicomJsonObject } from './dicomwebClient.ts';
import { exportsForResults, queueExport } from '../results/pacsExports.ts';
import { segFileOf } from './exportTask.ts';
import { searchSeriesDimse, searchStudiesDimse } from './dimseSearch.ts';
import { findNode, publicNode, type PacsNode } from '../config/pacsNodes.ts';

/** What the PACS routes use. */
export interface PacsRouteDeps {
  config: Pick<Config, 'pacsNodes' | 'aeTitle'>;
  db: Database;
  queue: Queue;
  logger: Logger;
}

/**
 * A search of a PACS shows patient data, and a retrieve brings a study here: each leaves an audit row with its
 * outcome (readAudit.ts), the node, the UIDs, and the names (not values) of what was searched on.
 */
function auditedPacs(
  deps: PacsRouteDeps,
  event: 'pacs-query' | 'pacs-retrieve',
  what: string,
  handle: (ctx: Context, facts: { studies?: string[]; series?: string[]; matches?: number }) => Promise<void>,
): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const facts: { studies?: string[]; series?: string[]; matches?: number } = {};
    let outcome: 'success' | 'failure' = 'success';
    let status: number | undefined;
    try {
      await handle(ctx, facts);
      status = ctx.status;
    } catch (err) {
      outcome = 'failure';
      const s = (err as { status?: unknown }).status;
      status = typeof s === 'number' ? s : 500;
      throw err;
    } finally {
      await auditPatientDataRead(
        deps,
        ctx,
        {
          event,
          what,
          node: ctx.params.name,
          studies: facts.studies ?? (ctx.params.uid ? [ctx.params.uid] : undefined),
          series: facts.series,
          matches: facts.matches,
          queryKeys: event === 'pacs-query' ? Object.keys(ctx.query) : undefined,
          status,
        },
        outcome,
      );
    }
  };
}

/**
 * PACS API (api.md, "PACS"): the configured nodes, QIDO-RS search through a node, queued retrieval
 * of a study or series, and sending a result's SEG to a node. Search results are shown to the user
 * who asked for them and never logged.
 */

const MAX_BODY_BYTES = 16 * 1024;

async function readJson(ctx: Context): Promise<Record<string, unknown>> {
  const parsed = (ctx.request as { body?: unknown }).body;
  let body: unknown = parsed;
  if (body === undefined) {
    if (!ctx.is('application/json')) throw httpError(415, 'Send the request as application/json.');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw httpError(413, 'The request is too large.');
      chunks.push(chunk);
    }
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw httpError(400, 'The request body is not valid JSON.');
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw httpError(400, 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function nodeOr404(deps: PacsRouteDeps, name: string): PacsNode {
  const node = findNode(deps.config.pacsNodes, name);
  if (!node) throw httpError(404, `There is no PACS node named "${name}".`);
  return node;
}

function searchable(node: PacsNode): DicomwebClient {
  if (!node.dicomweb)
    throw httpError(409, `PACS node "${node.name}" has no DICOMweb address, so it cannot be searched from here.`);
  return new DicomwebClient(node, { timeoutMs: 20_000 });
}

/** A failure of the node becomes 502 (it answered badly) or 504 (unreachable), with the reason shown. */
function nodeFailure(e: unknown): never {
  // No HTTP status and retryable means the node was not reached; a DIMSE refusal is an answer (502).
  if (e instanceof PacsError)
    throw httpError(e.status === undefined && e.retryable ? 504 : 502, e.message, {
      expose: true,
      code: e.status === 401 || e.status === 403 ? 'pacs-auth' : 'pacs',
    });
  throw e;
}

const TEXT_LIMIT = 64;

function textParam(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw httpError(400, `Give "${name}" once.`);
  const t = v.trim();
  if (t === '') return undefined;
  if (t.length > TEXT_LIMIT || /[\\\x00-\x1f]/.test(t))
    throw httpError(
      400,
      `"${name}" must be at most ${TEXT_LIMIT} characters, without backslashes or control characters.`,
    );
  return t;
}

/** Our search parameters to QIDO-RS attributes (PS3.18 8.3.4). */
export function studyQuery(ctx: Context): URLSearchParams {
  const q = new URLSearchParams();
  const patientId = textParam(ctx, 'patientId');
  const patientName = textParam(ctx, 'patientName');
  const accession = textParam(ctx, 'accession');
  const date = textParam(ctx, 'date');
  const modality = textParam(ctx, 'modality');
  if (patientId) q.set('PatientID', patientId);
  // People type the start of a name; PN matching is exact unless there is a wildcard.
  if (patientName) q.set('PatientName', /[*?]/.test(patientName) ? patientName : `${patientName}*`);
  if (accession) q.set('AccessionNumber', accession);
  if (date) {
    if (!/^(\d{8})?(-(\d{8})?)?$/.test(date) || date === '-')
      throw httpError(400, '"date" must be YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end may be left open).');
    q.set('StudyDate', date);
  }
  if (modality) {
    if (!/^[A-Z0-9]{1,16}$/i.test(modality))
      throw httpError(400, '"modality" must be a DICOM modality such as CT or MR.');
    q.set('ModalitiesInStudy', modality.toUpperCase());
  }
  const limit = Number(ctx.query.limit ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    throw httpError(400, '"limit" must be a whole number from 1 to 500.');
  q.set('limit', String(limit));
  for (const f of ['00081030', '00201206', '00201208', '00080061']) q.append('includefield', f);
  return q;
}

function studyJson(s: DicomJsonObject) {
  return {
    studyInstanceUid: jsonText(s, '0020000D') ?? '',
    patientName: jsonText(s, '00100010') ?? '',
    patientId: jsonText(s, '00100020') ?? '',
    patientBirthDate: jsonText(s, '00100030') ?? '',
    studyDate: jsonText(s, '00080020') ?? '',
    accessionNumber: jsonText(s, '00080050') ?? '',
    description: jsonText(s, '00081030') ?? '',
    modalities: jsonTexts(s, '00080061'),
    numberOfSeries: Number(jsonText(s, '00201206') ?? 0) || null,
    numberOfInstances: Number(jsonText(s, '00201208') ?? 0) || null,
  };
}

function seriesJson(s: DicomJsonObject) {
  return {
    seriesInstanceUid: jsonText(s, '0020000E') ?? '',
    modality: jsonText(s, '00080060') ?? '',
    seriesNumber: Number(jsonText(s, '00200011') ?? 0) || null,
    description: jsonText(s, '0008103E') ?? '',
    numberOfInstances: Number(jsonText(s, '00201209') ?? 0) || null,
    bodyPart: jsonText(s, '00180015') ?? '',
  };
}

export function pacsRouter(deps: PacsRouteDeps): Router {
  const router = new Router();

  router.get('/api/pacs/nodes', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = deps.config.pacsNodes.map(publicNode);
  });

  router.get(
    '/api/pacs/nodes/:name/studies',
    auditedPacs(deps, 'pacs-query', 'studies', async (ctx, facts) => {
      const node = nodeOr404(deps, ctx.params.name);
      const query = studyQuery(ctx);
      // DICOMweb when the node has it, else C-FIND: the answer has the same shape either way.
      const rows = node.dicomweb
        ? (await searchable(node).searchStudies(query).catch(nodeFailure)).map(studyJson)
        : await searchStudiesDimse(node, query, { callingAeTitle: deps.config.aeTitle }).catch(nodeFailure);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = rows.filter((s) => s.studyInstanceUid !== '');
      facts.studies = rows.map((s) => s.studyInstanceUid);
      facts.matches = rows.length;
    }),
  );

  router.get(
    '/api/pacs/nodes/:name/studies/:uid/series',
    auditedPacs(deps, 'pacs-query', 'series', async (ctx, facts) => {
      const node = nodeOr404(deps, ctx.params.name);
      if (!isUsableUid(ctx.params.uid)) throw httpError(400, 'That is not a Study Instance UID.');
      let rows;
      if (node.dicomweb) {
        const q = new URLSearchParams();
        for (const f of ['0008103E', '00201209', '00180015', '00200011']) q.append('includefield', f);
        rows = (await searchable(node).searchSeries(ctx.params.uid, q).catch(nodeFailure)).map(seriesJson);
      } else {
        rows = await searchSeriesDimse(node, ctx.params.uid, { callingAeTitle: deps.config.aeTitle }).catch(
          nodeFailure,
        );
      }
      ctx.set('Cache-Control', 'no-store');
      ctx.body = rows
        .filter((s) => s.seriesInstanceUid !== '')
        .sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0));
      facts.series = rows.map((s) => s.seriesInstanceUid);
      facts.matches = rows.length;
    }),
  );

  router.post(
    '/api/pacs/nodes/:name/retrieve',
    auditedPacs(deps, 'pacs-retrieve', 'retrieve', async (ctx, facts) => {
      const node = nodeOr404(deps, ctx.params.name);
      const raw = await readJson(ctx);
      // The DICOM keyword spellings (StudyInstanceUID, studyInstanceUID) are taken as well as ours.
      const body = {
        studyInstanceUid: raw.studyInstanceUid ?? raw.studyInstanceUID ?? raw.StudyInstanceUID,
        seriesInstanceUid: raw.seriesInstanceUid ?? raw.seriesInstanceUID ?? raw.SeriesInstanceUID,
      };
      if (!isUsableUid(body.studyInstanceUid)) throw httpError(400, '"studyInstanceUid" must be a Study Instance UID.');
      if (body.seriesInstanceUid !== undefined && !isUsableUid(body.seriesInstanceUid))
        throw httpError(400, '"seriesInstanceUid" must be a Series Instance UID.');
      facts.studies = [body.studyInstanceUid as string];
      if (body.seriesInstanceUid) facts.series = [body.seriesInstanceUid as string];
      const payload = {
        node: node.name,
        studyInstanceUid: body.studyInstanceUid as string,
        ...(body.seriesInstanceUid ? { seriesInstanceUid: body.seriesInstanceUid as string } : {}),
      };
      const job = await deps.queue.add('pacs-retrieve', payload, {
        maxAttempts: 5,
        key: `pacs-retrieve:${node.name}:${payload.studyInstanceUid}:${payload.seriesInstanceUid ?? '*'}`,
      });
      ctx.status = 202;
      ctx.body = { jobId: job.id, state: job.state };
    }),
  );

  router.get('/api/results/:id/pacs-exports', async (ctx) => {
    const result = await getResult(deps.db, ctx.params.id);
    if (!result) throw httpError(404, 'There is no such result.');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = (await exportsForResults(deps.db, [result.id])).get(result.id) ?? [];
  });

  router.post('/api/results/:id/pacs-exports', async (ctx) => {
    const body = await readJson(ctx);
    const result = await getResult(deps.db, ctx.params.id);
    if (!result) throw httpError(404, 'There is no such result.');
    if (typeof body.node !== 'string' || body.node === '') throw httpError(400, '"node" must name a PACS node.');
    const node = nodeOr404(deps, body.node);
    if (!segFileOf(result.files)) {
      throw httpError(
        409,
        'This result has no DICOM SEG yet (it is made after processing, only for DICOM series); try again in a moment.',
      );
    }
    const jobId = await queueExport(deps.db, deps.queue, result.id, node.name, 'user');
    ctx.status = 202;
    ctx.body = { jobId, node: node.name, state: 'queued' };
  });

  return router;
}

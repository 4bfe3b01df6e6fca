import { Router } from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { attachment, contentTypeOf } from '../downloads/contentType.ts';
import { fail } from '../downloads/fail.ts';
import { locateResultFile, resultFileUrl } from '../downloads/resultFiles.ts';
import { holdsPatientData } from '../downloads/patientData.ts';
import {
  getResult,
  isExpired,
  listResults,
  RESULT_SORTS,
  type ResultRecord,
  type ResultSort,
} from '../results/readResults.ts';
import { deleteResultRow } from '../results/resultsStore.ts';
import { displayName, patientDownloadName } from '../results/subjects.ts';
import { httpError } from '../errors.ts';
import { fileKind } from '../audit/audit.ts';
import { auditRequest } from '../auth/auditRequest.ts';
import { exportsForResults } from '../results/pacsExports.ts';
import { viewerUrlsForResults } from '../viewer/viewerLinks.ts';

/** The JSON shape of a result for the web pages (api.md, `GET /api/results`). */
export function resultJson(result: ResultRecord) {
  const files = result.files.map((f) => ({
    name: f.name,
    size: f.size,
    url: resultFileUrl(result.id, f.name),
    patientData: holdsPatientData(f.name),
  }));
  const glb =
    files.find((f) => f.name.toLowerCase().endsWith('.glb')) ??
    files.find((f) => f.name.toLowerCase().endsWith('.gltf'));
  const source = result.source as {
    originalName?: unknown;
    seriesDescription?: unknown;
    uidsGenerated?: unknown;
  } | null;
  const fallback =
    typeof source?.originalName === 'string'
      ? source.originalName
      : typeof source?.seriesDescription === 'string'
        ? source.seriesDescription
        : result.name;
  return {
    id: result.id,
    jobId: result.jobId,
    name: result.name,
    subject: result.subject,
    displayName: displayName(result.subject, fallback),
    /** The series' UIDs were blank (an anonymised folder) and generated from its files' content. */
    uidsGenerated: source?.uidsGenerated === true,
    engine: result.engine,
    createdAt: result.createdAt,
    expiresAt: result.expiresAt,
    segments: result.segments,
    files,
    totalSize: files.reduce((sum, f) => sum + f.size, 0),
    previewUrl: glb?.url ?? null,
  };
}

export type ResultJson = ReturnType<typeof resultJson>;

export function resultsRouter(deps: AppContext): Router {
  const router = new Router();

  router.get('/api/results', async (ctx) => {
    const now = Date.now();
    const { q, sort, order } = ctx.query;
    if (sort !== undefined && (typeof sort !== 'string' || !Object.hasOwn(RESULT_SORTS, sort)))
      throw httpError(400, `sort must be one of ${Object.keys(RESULT_SORTS).join(', ')}`);
    if (order !== undefined && order !== 'asc' && order !== 'desc') throw httpError(400, 'order must be asc or desc');
    if (q !== undefined && (typeof q !== 'string' || q.length > 200))
      throw httpError(400, 'q must be one search text of at most 200 characters');
    const results = await listResults(deps.db, {
      search: q,
      sort: sort as ResultSort | undefined,
      order: order as 'asc' | 'desc' | undefined,
    });
    ctx.set('Cache-Control', 'no-store');
    const shown = results.filter((r) => !isExpired(r, now));
    // Export status per PACS node (api.md "PACS"): shown on each result with its Send to PACS button.
    const exports = await exportsForResults(
      deps.db,
      shown.map((r) => r.id),
    );
    // "Open in viewer" while the source images are stored (the route needs the read role, as WADO-RS).
    const viewer = await viewerUrlsForResults(deps.db, shown);
    const withPatientData = shown.filter((r) => r.subject).length;
    if (withPatientData > 0) {
      // The search words may be patient data too: only that there was a search is recorded.
      await auditRequest(deps, ctx, {
        event: 'patient-data-read',
        details: { endpoint: 'results', results: withPatientData, searched: Boolean(q) },
      });
    }
    ctx.body = shown.map((r) => ({
      ...resultJson(r),
      pacsExports: exports.get(r.id) ?? [],
      viewerUrl: viewer.get(r.id) ?? null,
    }));
  });

  router.get('/api/results/:id/files/:name', async (ctx) => {
    const found = await locateResultFile(deps, ctx.params.id, ctx.params.name);
    if (!found.ok) fail(found.status, found.reason);
    ctx.set('Content-Type', contentTypeOf(found.name));
    ctx.set('Content-Length', String(found.size));
    ctx.set('Last-Modified', found.mtime.toUTCString());
    // ?inline=1 lets the 3D preview load the model without the browser treating it as a download.
    // Patient data in a saved file's name only when the site asked for it (DOWNLOAD_NAMES=patient).
    const saveAs =
      deps.config.downloadNames === 'patient' ? patientDownloadName(found.result.subject, found.name) : found.name;
    ctx.set('Content-Disposition', ctx.query.inline === '1' ? 'inline' : attachment(saveAs));
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.set('X-Content-Type-Options', 'nosniff');
    await auditRequest(deps, ctx, {
      event: 'download-file',
      target: found.result.id,
      details: { file: fileKind(found.name), inline: ctx.query.inline === '1' },
    });
    ctx.body = deps.storage.createReadStream(found.key);
  });

  // Deletes a result's files, then its row (as the retention sweep does: a crash in between leaves a row the
  // sweep or a second delete finds again, never orphaned files). Audited; the page asks for confirmation first.
  router.delete('/api/results/:id', async (ctx) => {
    const id = ctx.params.id;
    const result = /^[0-9a-f-]{36}$/i.test(id) ? await getResult(deps.db, id) : undefined;
    if (!result) throw httpError(404, 'No such result: it may have been deleted already.');
    await deps.storage.removeResult(result.id);
    await deleteResultRow(deps.db, result.id);
    await auditRequest(deps, ctx, {
      event: 'result-delete',
      target: result.id,
      details: { files: result.files.length, jobId: result.jobId },
    });
    deps.events.emit({ type: 'result', resultId: result.id, jobId: result.jobId ?? '' });
    ctx.status = 204;
  });

  return router;
}

import type { Context } from 'koa';
import { Router } from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { webManifest } from './webAssets.ts';
import { attachment, contentTypeOf } from '../downloads/contentType.ts';
import { publicBase } from '../downloads/lanAddress.ts';
import { renderLinkProblem, renderPhonePage, type PhoneFile } from '../downloads/phonePage.ts';
import { qrSvg } from '../downloads/qr.ts';
import { locateResultFile, parseResultFileUrl, type FileLookup } from '../downloads/resultFiles.ts';
import {
  getLink,
  insertLink,
  linkForToken,
  listActiveLinks,
  newLinkToken,
  revokeLink,
  type DownloadLink,
  type LinkFile,
} from '../downloads/links.ts';
import { holdsPatientData } from '../downloads/patientData.ts';
import { describePrincipal, principalOf, type Principal } from '../auth/principal.ts';
import { hasRole } from '../auth/roles.ts';
import { createZipStream } from '../downloads/zipStream.ts';
import { fail } from '../downloads/fail.ts';
import { fileKind } from '../audit/audit.ts';
import { auditRequest } from '../auth/auditRequest.ts';

/** More than this in one link makes a QR code too dense to scan and a zip nobody wants on a phone. */
export const MAX_FILES_PER_LINK = 200;
const MAX_BODY_BYTES = 256 * 1024;

async function readJsonBody(ctx: Context): Promise<unknown> {
  // A body parser further up the stack may already have read the request.
  const parsed = (ctx.request as { body?: unknown }).body;
  if (parsed !== undefined) return parsed;
  if (!ctx.is('application/json')) fail(415, 'Send the request as application/json.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) fail(413, 'The request is too large.');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    fail(400, 'The request body is not valid JSON.');
  }
}

/** Headers for everything under /d/: the token in the address must not leak or be cached. */
function linkHeaders(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Robots-Tag', 'noindex, nofollow');
  ctx.set('X-Content-Type-Options', 'nosniff');
}

/** Who may revoke a link besides admins: the account or token that made it, by id (names can be reused). */
function ownerOf(p: Principal | undefined): string {
  if (p?.kind === 'user') return `user:${p.userId}`;
  if (p?.kind === 'token') return `token:${p.tokenId}`;
  return 'anonymous';
}

function isAdmin(p: Principal | undefined): boolean {
  return p !== undefined && hasRole(p.roles, 'admin');
}

/** A link as its creator and admins see it: never the token (only its hash is kept). */
function describeLink(link: DownloadLink, viewer: Principal | undefined) {
  return {
    id: link.id,
    createdBy: link.createdBy,
    createdAt: link.createdAt,
    expiresAt: link.expiresAt,
    files: link.files,
    patientData: link.files.some((f) => f.patientData),
    mine: link.owner === ownerOf(viewer),
  };
}

export function downloadsRouter(deps: AppContext): Router {
  const router = new Router();

  router.post('/api/downloads', async (ctx) => {
    const body = (await readJsonBody(ctx)) as {
      files?: unknown;
      includePatientData?: unknown;
      expiresInSeconds?: unknown;
    } | null;
    const addresses = body?.files;
    if (!Array.isArray(addresses) || addresses.length === 0 || !addresses.every((a) => typeof a === 'string')) {
      fail(400, 'Send { "files": [ ...addresses of result files ] } with at least one file.');
    }
    const includePatientData = body?.includePatientData ?? false;
    if (typeof includePatientData !== 'boolean') fail(400, '"includePatientData" must be true or false.');
    const maxTtl = deps.config.downloadLinkMaxTtlSeconds;
    const ttl = body?.expiresInSeconds ?? Math.min(deps.config.downloadLinkTtlSeconds, maxTtl);
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 30 || ttl > maxTtl) {
      fail(400, `"expiresInSeconds" must be a whole number from 30 to ${maxTtl} (DOWNLOAD_LINK_MAX_TTL).`);
    }
    const unique = [...new Set(addresses as string[])];
    if (unique.length > MAX_FILES_PER_LINK) fail(400, `At most ${MAX_FILES_PER_LINK} files fit in one link.`);
    const files: LinkFile[] = [];
    const excluded: LinkFile[] = [];
    for (const address of unique) {
      const parsed = parseResultFileUrl(address);
      if (!parsed) fail(400, `"${address.slice(0, 200)}" is not the address of a result file.`);
      const found = await locateResultFile(deps, parsed.resultId, parsed.name);
      if (!found.ok) fail(found.status === 410 ? 410 : 404, `${parsed.name}: ${found.reason}`);
      const file = { resultId: found.result.id, name: found.name, patientData: holdsPatientData(found.name) };
      (file.patientData && !includePatientData ? excluded : files).push(file);
    }
    if (files.length === 0) {
      fail(
        400,
        'Every chosen file holds patient data (the DICOM SEG, the input volume): tick them to include them ("includePatientData": true).',
      );
    }
    const principal = principalOf(ctx);
    const token = newLinkToken();
    const link = await insertLink(deps.db, {
      token,
      owner: ownerOf(principal),
      createdBy: describePrincipal(principal),
      expiresAt: new Date(Date.now() + ttl * 1000),
      files,
    });
    // The port the request actually arrived on: right even when PORT=0 or behind a port mapping.
    const base = publicBase({
      publicUrl: deps.config.publicUrl,
      port: ctx.req.socket.localPort ?? deps.config.port,
      protocol: deps.config.tlsCert ? 'https' : 'http',
    });
    const url = `${base.url}/d/${token}`;
    deps.logger.info({ link: link.id, files: files.length, addressSource: base.source }, 'download link created');
    await auditRequest(deps, ctx, {
      event: 'download-link',
      target: link.id,
      details: {
        results: [...new Set(files.map((f) => f.resultId))].slice(0, 100),
        files: files.length,
        patientDataFiles: files.filter((f) => f.patientData).length,
        expiresAt: link.expiresAt,
      },
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      id: link.id,
      url,
      qrSvg: await qrSvg(url),
      expiresAt: link.expiresAt,
      files: files.length,
      contents: files,
      excluded,
      address: base,
    };
  });

  router.get('/api/downloads', async (ctx) => {
    const principal = principalOf(ctx);
    const links = await listActiveLinks(deps.db, isAdmin(principal) ? undefined : ownerOf(principal));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { links: links.map((l) => describeLink(l, principal)) };
  });

  router.delete('/api/downloads/:id', async (ctx) => {
    const principal = principalOf(ctx);
    const id = /^[0-9a-f-]{36}$/i.test(ctx.params.id) ? ctx.params.id : undefined;
    const link = id ? await getLink(deps.db, id) : undefined;
    // Someone else's link is "not found" to a non-admin: its existence is not theirs to learn.
    if (!link || (!isAdmin(principal) && link.owner !== ownerOf(principal)))
      fail(404, 'There is no such download link.');
    const revoked = await revokeLink(deps.db, link.id, describePrincipal(principal));
    await auditRequest(deps, ctx, {
      event: 'download-link-revoke',
      target: link.id,
      details: { files: link.files.length, alreadyRevoked: !revoked },
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 204;
  });

  /** The link a token opens; on failure answers with a phone-readable page (or JSON) and returns undefined. */
  async function grantOf(ctx: Context, token: string, html: boolean): Promise<DownloadLink | undefined> {
    linkHeaders(ctx);
    const verdict = await linkForToken(deps.db, token);
    if (verdict.ok) return verdict.link;
    deps.logger.info({ status: verdict.status }, 'download link refused');
    if (!html) fail(verdict.status, verdict.reason);
    ctx.status = verdict.status;
    ctx.type = 'html';
    ctx.body = renderLinkProblem({
      status: verdict.status,
      message: verdict.reason,
      stylesheet: webManifest(deps.webDist)['phone.css'],
      icon: webManifest(deps.webDist)['favicon.svg'],
    });
    return undefined;
  }

  const locateAll = (grant: DownloadLink): Promise<FileLookup[]> =>
    Promise.all(grant.files.map((f) => locateResultFile(deps, f.resultId, f.name)));

  router.get('/d/:token', async (ctx) => {
    const grant = await grantOf(ctx, ctx.params.token, true);
    if (!grant) return;
    const found = await locateAll(grant);
    const files: PhoneFile[] = found.map((f, i) => ({
      name: f.ok ? f.name : grant.files[i].name,
      size: f.ok ? f.size : 0,
      href: f.ok ? `/d/${ctx.params.token}/files/${i}` : undefined,
    }));
    ctx.type = 'html';
    ctx.body = renderPhonePage({
      files,
      zipHref: `/d/${ctx.params.token}/zip`,
      expiresAt: Date.parse(grant.expiresAt),
      stylesheet: webManifest(deps.webDist)['phone.css'],
      icon: webManifest(deps.webDist)['favicon.svg'],
      localTimeScript: webManifest(deps.webDist)['local-time.js'],
    });
  });

  router.get('/d/:token/zip', async (ctx) => {
    const grant = await grantOf(ctx, ctx.params.token, false);
    if (!grant) return;
    const present = (await locateAll(grant)).filter((f) => f.ok);
    if (present.length === 0) fail(410, 'None of these files is still on the server.');
    const zip = createZipStream(
      present.map((f) => ({ path: deps.storage.localPath(f.key), name: f.name, mtime: f.mtime })),
    );
    zip.on('error', (error) => deps.logger.warn({ err: error }, 'zip stream failed'));
    // A phone that gives up mid-download must not leave archiver reading files for nobody.
    ctx.req.on('close', () => zip.destroy());
    const stamp = new Date().toISOString().slice(0, 10);
    ctx.set('Content-Type', 'application/zip');
    ctx.set('Content-Disposition', attachment(`anatomy-models-${stamp}.zip`));
    deps.logger.info({ files: present.length }, 'zip download started');
    await auditRequest(deps, ctx, {
      event: 'download-zip',
      target: grant.id,
      details: {
        results: [...new Set(present.map((f) => (f.ok ? f.result.id : '')))].slice(0, 100),
        files: present.length,
        via: 'download-link',
      },
    });
    ctx.body = zip;
  });

  router.get('/d/:token/files/:n', async (ctx) => {
    const grant = await grantOf(ctx, ctx.params.token, false);
    if (!grant) return;
    const n = /^\d{1,4}$/.test(ctx.params.n) ? Number(ctx.params.n) : -1;
    const granted = grant.files[n];
    if (!granted) fail(404, 'This link has no file with that number.');
    const found = await locateResultFile(deps, granted.resultId, granted.name);
    if (!found.ok) fail(found.status, found.reason);
    ctx.set('Content-Type', contentTypeOf(found.name));
    ctx.set('Content-Length', String(found.size));
    ctx.set('Content-Disposition', attachment(found.name));
    await auditRequest(deps, ctx, {
      event: 'download-link-file',
      target: grant.id,
      details: { result: found.result.id, file: fileKind(found.name), via: 'download-link' },
    });
    ctx.body = deps.storage.createReadStream(found.key);
  });

  return router;
}

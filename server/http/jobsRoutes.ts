import Router from '@koa/router';
import type { AppContext } from '../app/context.ts';
import { httpError } from '../errors.ts';
import { JOB_STATES, type Job, type JobState } from '../jobs/queue.ts';
import { auditRequest } from '../auth/auditRequest.ts';
import type { Queryable } from '../db/database.ts';
import { displayName, subjectsOfJobs, type Subject } from '../results/subjects.ts';
import { koaBody } from 'koa-body';

const parseJsonBody = koaBody({ json: true, urlencoded: false, text: false, multipart: false, jsonLimit: '256kb' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A job as clients see it: the payload is reduced to its display fields (it may list file paths). */
export function jobJson(job: Job, subject: Subject | null = null) {
  const payload = job.payload as {
    name?: unknown;
    input?: { seriesDescription?: unknown; originalName?: unknown };
  };
  const name = typeof payload.name === 'string' ? payload.name : null;
  const seriesDescription =
    typeof payload.input?.seriesDescription === 'string' ? payload.input.seriesDescription : null;
  const originalName = typeof payload.input?.originalName === 'string' ? payload.input.originalName : null;
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    progress: job.progress,
    status: job.status,
    error: job.lastError,
    engine: job.engine,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    name,
    seriesDescription,
    subject,
    displayName: displayName(subject, seriesDescription ?? originalName ?? name),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    runAfter: job.runAfter.toISOString(),
  };
}

/** Jobs as clients see them, each with whose scan it is (patient data: the caller audits the read). */
async function jobsJson(db: Queryable, jobs: Job[]) {
  const subjects = await subjectsOfJobs(
    db,
    jobs.map((j) => {
      const input = (j.payload as { input?: { seriesInstanceUid?: unknown } }).input;
      return { id: j.id, seriesUid: typeof input?.seriesInstanceUid === 'string' ? input.seriesInstanceUid : null };
    }),
  );
  return jobs.map((j) => jobJson(j, subjects.get(j.id) ?? null));
}

function listParam(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const parts = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).filter(Boolean);
  return parts.length ? parts : undefined;
}

function intParam(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw httpError(400, `${name} must be a whole number from 0 to ${max}`);
  return n;
}

export function jobsRouter(deps: AppContext): Router {
  const router = new Router({ prefix: '/api/jobs' });

  router.get('/', async (ctx) => {
    const states = listParam(ctx.query.state);
    for (const s of states ?? []) {
      if (!(JOB_STATES as readonly string[]).includes(s))
        throw httpError(400, `unknown state "${s}"; use ${JOB_STATES.join(', ')}`);
    }
    const jobs = await deps.queue.list({
      states: states as JobState[] | undefined,
      kinds: listParam(ctx.query.kind),
      limit: intParam(ctx.query.limit, 'limit', 100, 1000),
      offset: intParam(ctx.query.offset, 'offset', 0, 1_000_000),
    });
    ctx.set('Cache-Control', 'no-store');
    const body = { jobs: await jobsJson(deps.db, jobs), counts: await deps.queue.counts() };
    const withPatientData = body.jobs.filter((j) => j.subject).length;
    if (withPatientData > 0) {
      await auditRequest(deps, ctx, {
        event: 'patient-data-read',
        details: { endpoint: 'jobs', jobs: withPatientData },
      });
    }
    ctx.body = body;
  });

  router.get('/:id', async (ctx) => {
    const job = await deps.queue.get(ctx.params.id);
    if (!job) throw httpError(404, 'no such job');
    const log = await deps.queue.log(job.id);
    ctx.set('Cache-Control', 'no-store');
    const [withSubject] = await jobsJson(deps.db, [job]);
    if (withSubject.subject) await auditRequest(deps, ctx, { event: 'patient-data-read', target: job.id });
    ctx.body = { ...withSubject, log: log.map((l) => ({ at: l.at.toISOString(), attempt: l.attempt, line: l.line })) };
  });

  // Clears finished, failed and cancelled jobs from the queue view; their rows, logs and results stay.
  router.post('/clear', parseJsonBody, async (ctx) => {
    if (!ctx.is('application/json')) throw httpError(415, 'Send the request as application/json.');
    const ids = (ctx.request.body as { ids?: unknown } | null)?.ids;
    if (!Array.isArray(ids) || ids.length > 1000 || ids.some((id) => typeof id !== 'string' || !UUID.test(id)))
      throw httpError(400, 'Give "ids": up to 1000 job ids.');
    const cleared = await deps.queue.clear(ids as string[]);
    if (cleared.length > 0)
      await auditRequest(deps, ctx, {
        event: 'job-clear',
        details: { jobs: cleared.length, ids: cleared.slice(0, 50) },
      });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { cleared };
  });

  router.post('/:id/cancel', async (ctx) => {
    const before = await deps.queue.get(ctx.params.id);
    if (!before) throw httpError(404, 'no such job');
    if (before.state !== 'queued' && before.state !== 'running') {
      throw httpError(409, `the job is already ${before.state}`);
    }
    const job = await deps.queue.cancel(before.id);
    if (!job) throw httpError(404, 'no such job');
    await auditRequest(deps, ctx, { event: 'job-cancel', target: job.id });
    ctx.status = 202;
    ctx.body = jobJson(job);
  });

  router.post('/:id/retry', async (ctx) => {
    const before = await deps.queue.get(ctx.params.id);
    if (!before) throw httpError(404, 'no such job');
    if (before.state !== 'failed' && before.state !== 'cancelled') {
      throw httpError(409, `only failed or cancelled jobs can be retried; this one is ${before.state}`);
    }
    const job = await deps.queue.retry(before.id);
    if (!job) throw httpError(404, 'no such job');
    await auditRequest(deps, ctx, { event: 'job-retry', target: job.id });
    ctx.status = 202;
    ctx.body = jobJson(job);
  });

  return router;
}

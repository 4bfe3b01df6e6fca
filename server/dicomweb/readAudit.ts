import type { Context } from 'koa';
import { auditPatientDataRead } from '../auth/auditRequest.ts';
import type { ReadEvent } from '../audit/readAudit.ts';
import type { DicomwebDeps } from './deps.ts';

/**
 * Every DICOMweb read (QIDO-RS search, WADO-RS instances, metadata, frames, bulk data, rendered images, thumbnails)
 * leaves one audit row with its outcome, whether it succeeded or was refused: the handler notes what it found
 * (`noteRead`), the wrapper writes the row once the handler is done.
 */

export interface ReadFacts {
  studies?: string[];
  series?: string[];
  instances?: number;
  matches?: number;
  queryKeys?: string[];
}

export function noteRead(ctx: Context, facts: ReadFacts): void {
  (ctx.state as { readFacts?: ReadFacts }).readFacts = facts;
}

/** Frames, bulk data and rendered images come by the hundred for one look at a series: folded (readAudit.ts). */
const FOLDED = new Set(['frames', 'bulk', 'rendered', 'thumbnail']);

export function audited(
  deps: DicomwebDeps,
  event: ReadEvent,
  what: string,
  handle: (ctx: Context) => Promise<void>,
): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    let outcome: 'success' | 'failure' = 'success';
    let status: number | undefined;
    try {
      await handle(ctx);
      status = ctx.status;
    } catch (err) {
      outcome = 'failure';
      const s = (err as { status?: unknown }).status;
      status = typeof s === 'number' ? s : 500;
      throw err;
    } finally {
      const facts = (ctx.state as { readFacts?: ReadFacts }).readFacts ?? {};
      const params = ctx.params as Record<string, string | undefined>;
      await auditPatientDataRead(
        deps,
        ctx,
        {
          event,
          what,
          studies: facts.studies ?? (params.study ? [params.study] : undefined),
          series: facts.series ?? (params.series ? [params.series] : undefined),
          instances: facts.instances,
          matches: facts.matches,
          queryKeys: facts.queryKeys,
          status,
        },
        outcome,
        { fold: FOLDED.has(what) },
      );
    }
  };
}

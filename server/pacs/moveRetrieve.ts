import type { Config } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { storedSeriesOf } from '../dicomIndex/seriesGrouping.ts';
import { PermanentError } from '../errors.ts';
import type { TaskHelpers } from '../jobs/task.ts';
import { PacsError } from './dicomwebClient.ts';
import { CMoveFailedError, cMove } from './dimseClient.ts';
import type { PacsNode } from '../config/pacsNodes.ts';
import { databaseNow, returnAssociationsSince, type ReturnAssociations } from './returnAssociations.ts';

/**
 * Retrieve by C-MOVE: the node opens its own associations to our SCP (DIMSE_PORT), which stores each
 * instance before acknowledging it; so when the final response comes, what the node counts as
 * completed is stored here, and the series are read back from the index. When the node could not
 * deliver, the error says why from what reached our SCP: refused associations with the SCP's reason,
 * or none at all (the node does not know us as a destination, or cannot reach us).
 */

/** What a C-MOVE retrieve uses: our AE title and DIMSE port, and the database (audit rows, index). */
export interface MoveDeps {
  config: Pick<Config, 'aeTitle' | 'dimsePort'>;
  db: Database;
}

export interface MovedSeries {
  /** Instances the node delivered (completed and with warnings). */
  delivered: number;
  series: string[];
}

/** The audit rows of a refusal may land a moment after the node's final response: look twice. */
async function settledReturnAssociations(deps: MoveDeps, node: PacsNode, since: string): Promise<ReturnAssociations> {
  const first = await returnAssociationsSince(deps.db, node, since);
  if (first.refused.length > 0 || first.accepted > 0) return first;
  await new Promise((r) => setTimeout(r, 300));
  return returnAssociationsSince(deps.db, node, since);
}

function refusalAdvice(deps: MoveDeps, node: PacsNode, refused: ReturnAssociations['refused'][number]): string {
  const { aeTitle } = deps.config;
  switch (refused.reason) {
    case 'calling-ae-not-recognized':
      return `add "${refused.callingAet}" to DIMSE_ALLOWED_AETS, or set this node's "aeTitle" in PACS_NODES to the AE title it calls from`;
    case 'called-ae-not-recognized':
      return `the node calls us as "${refused.calledAet ?? ''}": register our AE title ${aeTitle} there as the C-MOVE destination`;
    case 'local-limit-exceeded':
      return 'the retrieve is tried again later';
    default:
      return `see the DIMSE log for ${node.name}`;
  }
}

/** The error for a C-MOVE that did not deliver everything, with the reason found at our SCP. */
async function explainUndelivered(
  deps: MoveDeps,
  node: PacsNode,
  since: string,
  what: string,
  retryable: boolean,
  delivered: number,
): Promise<PacsError> {
  const seen = await settledReturnAssociations(deps, node, since);
  if (seen.refused.length > 0) {
    const first = seen.refused[0];
    const from = `calling AE title "${first.callingAet}"${first.address ? ` from ${first.address}` : ''}`;
    const count = seen.refused.length === 1 ? 'the association' : `${seen.refused.length} associations`;
    return new PacsError(
      `${what}: our DICOM SCP refused ${count} the node opened to deliver them (${from}: ${first.why}); ${refusalAdvice(deps, node, first)}`,
      seen.refused.every((r) => r.reason === 'local-limit-exceeded'),
    );
  }
  if (seen.accepted === 0 && delivered === 0) {
    return new PacsError(
      `${what}; no association from the node reached our DICOM SCP: check that the node knows our AE title ${deps.config.aeTitle} as a C-MOVE destination, with this server's address and DIMSE_PORT ${deps.config.dimsePort}`,
      retryable,
    );
  }
  return new PacsError(`${what} (its associations reached our SCP; see the DIMSE log for the refused instances)`, true);
}

export async function retrieveByMove(
  deps: MoveDeps,
  node: PacsNode,
  target: { studyInstanceUid: string; seriesInstanceUid?: string },
  helpers: Pick<TaskHelpers, 'signal' | 'progress' | 'log'>,
): Promise<MovedSeries> {
  if (deps.config.dimsePort === undefined) {
    throw new PermanentError(
      `PACS node "${node.name}" is set to retrieve by C-MOVE, which sends to our DICOM SCP, but DIMSE_PORT is off; set DIMSE_PORT or use "retrieve": "get"`,
    );
  }
  helpers.log(
    `retrieving a ${target.seriesInstanceUid ? 'series' : 'study'} from ${node.name} over DIMSE C-MOVE to ${deps.config.aeTitle}`,
  );
  const since = await databaseNow(deps.db);
  let lastProgress = 0;
  let progress: Promise<void> = Promise.resolve();
  let out;
  try {
    out = await cMove(
      node,
      deps.config.aeTitle,
      { studyUid: target.studyInstanceUid, seriesUid: target.seriesInstanceUid },
      {
        callingAeTitle: deps.config.aeTitle,
        signal: helpers.signal,
        onProgress: ({ remaining, completed, failed }) => {
          if (Date.now() - lastProgress < 500) return;
          lastProgress = Date.now();
          const total = remaining + completed + failed;
          const pct = total > 0 ? 5 + (90 * (completed + failed)) / total : 5;
          progress = progress
            .then(() => helpers.progress(pct, `${node.name} sent ${completed + failed} of ${total} instances`))
            .catch(() => undefined);
        },
      },
    );
  } catch (e) {
    if (!(e instanceof CMoveFailedError)) throw e;
    const { completed, warnings } = e.outcome;
    throw await explainUndelivered(deps, node, since, e.message, e.retryable, completed + warnings);
  } finally {
    await progress;
  }
  if (out.failed > 0) {
    throw await explainUndelivered(
      deps,
      node,
      since,
      `PACS node "${node.name}" could not deliver ${out.failed} of ${out.completed + out.failed} instances to us by C-MOVE`,
      true,
      out.completed + out.warnings,
    );
  }
  return { delivered: out.completed + out.warnings, series: await storedSeriesOf(deps.db, target) };
}

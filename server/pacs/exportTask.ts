import type { Config } from '../config/config.ts';
import { isUuid } from '../jobs/queue.ts';
import type { TaskHandler } from '../jobs/task.ts';
import { PermanentError } from '../errors.ts';
import type { PacsExportPayload } from '../jobs/kinds.ts';
import { getResult } from '../results/readResults.ts';
import { resultKey } from '../storage/layout.ts';
import type { Storage } from '../storage/storage.ts';
import { readHeaderDataset } from '../seg/dcmjsData.ts';
import { cStoreFile } from './cstoreScu.ts';
import { DicomwebClient, PacsError } from './dicomwebClient.ts';
import { setExportState } from '../results/pacsExports.ts';
import { findNode } from '../config/pacsNodes.ts';

/**
 * Kind `pacs-export`: sends a result's DICOM SEG to a PACS node, by STOW-RS when the node has a
 * DICOMweb address, else by C-STORE. The pacs_exports row follows the job so the results page can
 * show "sent", "retrying: <why>" or "failed: <why>".
 */

export interface ExportDeps {
  config: Pick<Config, 'pacsNodes' | 'aeTitle'>;
  storage: Storage;
}

export function segFileOf(files: Array<{ name: string }>): string | undefined {
  return files.find((f) => f.name.endsWith('_seg.dcm'))?.name;
}

export function pacsExportTask(deps: ExportDeps): TaskHandler<PacsExportPayload> {
  return async (job, helpers) => {
    const { resultId, node: nodeName } = job.payload;
    if (typeof resultId !== 'string' || !isUuid(resultId) || typeof nodeName !== 'string')
      throw new PermanentError('invalid pacs-export payload');
    const record = async (
      state: 'running' | 'succeeded' | 'failed' | 'queued',
      detail: string | null,
      sop?: string,
    ): Promise<void> => setExportState(helpers.db, resultId, nodeName, state, detail, sop);
    try {
      await record('running', null);
      const node = findNode(deps.config.pacsNodes, nodeName);
      if (!node) throw new PermanentError(`PACS node "${nodeName}" is not configured (any more); see PACS_NODES`);
      const result = await getResult(helpers.db, resultId);
      if (!result) throw new PermanentError('the result no longer exists (deleted or expired)');
      const segName = segFileOf(result.files);
      if (!segName) throw new PermanentError('the result has no DICOM SEG (only results of DICOM series have one)');
      const key = resultKey(result.id, segName);
      const bytes = await deps.storage.read(key);
      const header = readHeaderDataset(bytes);
      const study = String(header.StudyInstanceUID ?? '');
      const sop = String(header.SOPInstanceUID ?? '');
      await helpers.progress(20, `sending the SEG to ${node.name}`);
      if (node.dicomweb) {
        const out = await new DicomwebClient(node).store(study, [bytes], helpers.signal);
        if (out.failed.length > 0) {
          const reason = out.failed[0].reason;
          throw new PermanentError(
            `PACS node "${node.name}" refused the SEG${reason !== undefined ? ` (failure reason 0x${reason.toString(16).toUpperCase()})` : ''}`,
          );
        }
        for (const w of out.warnings) helpers.log(`${node.name}: ${w}`);
      } else {
        await cStoreFile(node, deps.config.aeTitle, deps.storage.localPath(key), helpers.signal);
      }
      helpers.log(`SEG stored on ${node.name}`);
      await record('succeeded', `stored on ${node.name}`, sop);
      await helpers.progress(100, `SEG stored on ${node.name}`);
    } catch (e) {
      const err = e instanceof PacsError && !e.retryable ? new PermanentError(e.message, { cause: e }) : e;
      const message = (err as Error).message ?? String(err);
      const final =
        (err as { retryable?: unknown }).retryable === false ||
        job.attempt >= job.maxAttempts ||
        helpers.signal.aborted;
      await record(final ? 'failed' : 'queued', final ? message : `will retry: ${message}`).catch(() => undefined);
      throw err;
    }
  };
}

import { Client, CStoreRequest, silenceLibraryLog, Status } from '../dimse/dcmjsDimse.ts';
import { PacsError } from './dicomwebClient.ts';
import type { PacsNode } from '../config/pacsNodes.ts';

/**
 * C-STORE SCU through dcmjs-dimse: one association, one file. Network failures and association
 * rejections are told apart, since a rejected calling AE title will not get better by retrying.
 */
export async function cStoreFile(
  node: PacsNode,
  callingAeTitle: string,
  file: string,
  signal?: AbortSignal,
): Promise<void> {
  const dimse = node.dimse;
  if (!dimse) throw new PacsError(`PACS node "${node.name}" has no DIMSE address`, false);
  signal?.throwIfAborted();
  // The library would log every PDU (with AE titles) to the console; we log the outcome ourselves.
  silenceLibraryLog();
  await new Promise<void>((resolve, reject) => {
    const client = new Client();
    const request = new CStoreRequest(file);
    let status: number | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => finish(signal?.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('response', (response: { getStatus(): number; getErrorComment?(): string | undefined }) => {
      status = response.getStatus();
    });
    const on = client.on.bind(client) as (event: string, listener: (...args: unknown[]) => void) => void;
    on('networkError', (e) =>
      finish(
        new PacsError(
          `could not reach PACS node "${node.name}" (${dimse.host}:${dimse.port}) over DIMSE: ${(e as Error)?.message ?? 'network error'}`,
          true,
        ),
      ),
    );
    on('associationRejected', (result) => {
      const r = result as { reason?: number; result?: number } | undefined;
      finish(
        new PacsError(
          `PACS node "${node.name}" rejected our association (AE title ${callingAeTitle} calling ${dimse.aeTitle}${r?.reason !== undefined ? `, reason ${r.reason}` : ''}); check its AE configuration`,
          r?.result === 2,
        ),
      );
    });
    on('closed', () => {
      if (status === undefined)
        finish(new PacsError(`PACS node "${node.name}" closed the association without answering the C-STORE`, true));
      else if (status === Status.Success || (status & 0xf000) === 0xb000) finish();
      else
        finish(
          new PacsError(
            `PACS node "${node.name}" refused the SEG with C-STORE status 0x${status.toString(16).toUpperCase().padStart(4, '0')}`,
            (status & 0xff00) === 0xa700,
          ),
        );
    });
    client.addRequest(request);
    client.send(dimse.host, dimse.port, callingAeTitle, dimse.aeTitle, {
      connectTimeout: 15_000,
      associationTimeout: 60_000,
    });
  });
}

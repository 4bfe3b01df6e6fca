import { SUPPORTED_TRANSFER_SYNTAXES as DECODABLE, transferSyntaxName } from '../volume/pixelData.ts';

/**
 * Transfer syntaxes whose pixel data the volume readers decode: the one list lives with the decoder
 * (server/volume/pixelData.ts). Instances of image SOP classes in any other syntax are refused at ingest
 * with 0xC122 instead of failing later in a job.
 */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(Object.keys(DECODABLE));

export function transferSyntaxLabel(uid: string): string {
  return `${uid} (${transferSyntaxName(uid)})`;
}

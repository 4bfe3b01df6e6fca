import type { Context } from 'koa';
import type { Config } from '../config/config.ts';

/** Base of our DICOMweb service as clients reach it: PUBLIC_URL when set, else the request's own origin. */
export function dicomwebBaseUrl(config: Pick<Config, 'publicUrl'>, ctx: Pick<Context, 'protocol' | 'host'>): string {
  return `${config.publicUrl ?? `${ctx.protocol}://${ctx.host}`}/dicomweb`;
}

export function studyUrl(base: string, study: string): string {
  return `${base}/studies/${study}`;
}

export function seriesUrl(base: string, study: string, series: string): string {
  return `${studyUrl(base, study)}/series/${series}`;
}

export function instanceUrl(base: string, study: string, series: string, sop: string): string {
  return `${seriesUrl(base, study, series)}/instances/${sop}`;
}

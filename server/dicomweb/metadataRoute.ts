import { Readable } from 'node:stream';
import type { Context } from 'koa';
import type { DicomwebDeps } from './deps.ts';
import { assertAcceptsJson } from './accept.ts';
import { readInstanceDataset } from './instanceDataset.ts';
import { findInstances, type InstanceKey, type ServedInstance } from './instances.ts';
import { instanceMetadata } from './metadata.ts';
import { instanceUrl } from './urls.ts';
import { ensureFilesPresent, noteInstancesRead } from './wado.ts';

/**
 * WADO-RS metadata of a study, series or instance (PS3.18 §10.4.1.1.2): a JSON array with one DICOM
 * JSON object per instance, streamed as the headers are read (a few at a time, in order), so a study
 * of thousands of instances never sits in memory whole.
 */

const READ_AHEAD = 4;

async function* jsonArray(files: ServedInstance[], base: string): AsyncGenerator<Buffer> {
  yield Buffer.from('[');
  const pending: Array<Promise<string>> = [];
  const render = async (f: ServedInstance): Promise<string> => {
    const ds = await readInstanceDataset(f.path);
    return JSON.stringify(
      instanceMetadata(ds.dict, instanceUrl(base, f.studyUid, f.seriesUid, f.sopUid), ds.hasPixelData, ds.meta),
    );
  };
  let next = 0;
  for (let i = 0; i < files.length; i++) {
    while (next < files.length && pending.length < READ_AHEAD) pending.push(render(files[next++]));
    const text = await (pending.shift() as Promise<string>);
    yield Buffer.from(i === 0 ? text : `,${text}`);
  }
  yield Buffer.from(']');
}

export async function handleMetadata(deps: DicomwebDeps, ctx: Context, key: InstanceKey, base: string): Promise<void> {
  assertAcceptsJson(ctx.get('Accept'));
  const files = await findInstances(deps, key);
  await ensureFilesPresent(deps, files);
  // The first header is read before the status goes out, so an unreadable file is a clean 500.
  await readInstanceDataset(files[0].path);
  noteInstancesRead(ctx, key, files);
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'application/dicom+json';
  ctx.body = Readable.from(jsonArray(files, base));
}

import { PermanentError } from '../errors.ts';
import type { ProcessInput, ProcessPayload } from '../jobs/kinds.ts';
import { isSafeKey } from '../storage/layout.ts';

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Checks the payload shape; a malformed payload can never succeed, so it fails permanently. */
export function parseProcessPayload(payload: unknown): ProcessPayload {
  const bad = (why: string): never => {
    throw new PermanentError(`invalid process job payload: ${why}`);
  };
  if (typeof payload !== 'object' || payload === null) return bad('not an object');
  const p = payload as Record<string, unknown>;
  if (!isString(p.name)) return bad('"name" must be a non-empty string');
  const input = p.input;
  if (typeof input !== 'object' || input === null) return bad('"input" is missing');
  const i = input as Record<string, unknown>;
  if (i.kind === 'dicom-series') {
    if (!Array.isArray(i.files) || i.files.length === 0 || !i.files.every(isString))
      return bad('"input.files" must list the DICOM files');
    if (!isString(i.studyInstanceUid) || !isString(i.seriesInstanceUid))
      return bad('"input" needs studyInstanceUid and seriesInstanceUid');
    const out: ProcessInput = {
      kind: 'dicom-series',
      files: i.files,
      studyInstanceUid: i.studyInstanceUid,
      seriesInstanceUid: i.seriesInstanceUid,
    };
    if (isString(i.seriesDescription)) out.seriesDescription = i.seriesDescription;
    return { name: p.name, input: out };
  }
  if (i.kind === 'volume-file') {
    if (!isString(i.file)) return bad('"input.file" must name the volume file');
    const out: ProcessInput = { kind: 'volume-file', file: i.file };
    if (isString(i.originalName)) out.originalName = i.originalName;
    return { name: p.name, input: out };
  }
  return bad(`unknown input kind ${JSON.stringify(i.kind)}`);
}

/** The storage keys a job reads; refuses anything that is not a key inside the store. */
export function inputKeys(input: ProcessInput): string[] {
  const keys = input.kind === 'dicom-series' ? input.files : [input.file];
  for (const key of keys) {
    if (!isSafeKey(key)) {
      throw new PermanentError('an input file path points outside DATA_DIR; the job was not created by this server');
    }
  }
  return keys;
}

/** What the results row says about where the result came from (UIDs and counts, no patient data). */
export function sourceOf(input: ProcessInput): Record<string, unknown> {
  if (input.kind === 'dicom-series') {
    const s: Record<string, unknown> = {
      kind: input.kind,
      studyInstanceUid: input.studyInstanceUid,
      seriesInstanceUid: input.seriesInstanceUid,
      instances: input.files.length,
    };
    if (input.seriesDescription) s.seriesDescription = input.seriesDescription;
    return s;
  }
  const s: Record<string, unknown> = { kind: input.kind, file: input.file };
  if (input.originalName) s.originalName = input.originalName;
  return s;
}

/**
 * Every kind of job and its payload, declared once (graphile-worker's `GraphileWorker.Tasks`): `Queue.add` takes
 * the payload of the kind it is given, and the application's task list (server/app/tasks.ts) must have a handler
 * for each kind, taking exactly that payload.
 */
export interface JobKinds {
  /** A series' quiet-period timer: debounced per series, it becomes a `process` job (server/series/). */
  'series-stable': SeriesStablePayload;
  /** One series or volume file to segment, mesh and record as a result (server/processing/). */
  process: ProcessPayload;
  /** Removes expired results and re-arms itself hourly (server/retention/). */
  'sweep-retention': Record<string, never>;
  /** Fetches a study or series from a PACS node (server/pacs/). */
  'pacs-retrieve': PacsRetrievePayload;
  /** Sends a result's DICOM SEG to a PACS node (server/pacs/). */
  'pacs-export': PacsExportPayload;
}

export type JobKind = keyof JobKinds;

/** The payload of a kind the application defines; any object for kinds only tests use. */
export type PayloadOf<K extends string> = K extends JobKind ? JobKinds[K] : object;

export interface SeriesStablePayload {
  seriesInstanceUid: string;
}

export interface ProcessPayload {
  /** The result's file name stem ("CT_Abdomen_3mm-1a2b3c4d"). */
  name: string;
  input: ProcessInput;
}

/** Paths are storage keys (server/storage/layout.ts). */
export type ProcessInput =
  | {
      kind: 'dicom-series';
      files: string[];
      studyInstanceUid: string;
      seriesInstanceUid: string;
      seriesDescription?: string;
    }
  | { kind: 'volume-file'; file: string; originalName?: string };

export interface PacsRetrievePayload {
  node: string;
  studyInstanceUid: string;
  seriesInstanceUid?: string;
}

export interface PacsExportPayload {
  resultId: string;
  node: string;
}

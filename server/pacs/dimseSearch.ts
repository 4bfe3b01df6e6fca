import { cFind, type DimseElements } from './dimseClient.ts';
import type { PacsNode } from '../config/pacsNodes.ts';

/**
 * Study and series search over C-FIND (Study Root) for nodes without DICOMweb, answering in the
 * same JSON shape as the QIDO-RS search (routes.ts), so the PACS page works the same on both.
 * The query comes in as the QIDO-RS parameters the route already validated.
 */

export interface StudyRow {
  studyInstanceUid: string;
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  studyDate: string;
  accessionNumber: string;
  description: string;
  modalities: string[];
  numberOfSeries: number | null;
  numberOfInstances: number | null;
}

export interface SeriesRow {
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: number | null;
  description: string;
  numberOfInstances: number | null;
  bodyPart: string;
}

/** A naturalized element as text: first value, PN as its alphabetic form. */
function text(e: DimseElements, key: string): string {
  const v = e[key];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return '';
  if (typeof first === 'object') {
    const alpha = (first as { Alphabetic?: unknown }).Alphabetic;
    return typeof alpha === 'string' ? alpha : '';
  }
  return String(first).trim();
}

function texts(e: DimseElements, key: string): string[] {
  const v = e[key];
  if (v === undefined || v === null || v === '') return [];
  // Some nodes send a multi-valued CS as one backslash-joined string.
  return (Array.isArray(v) ? v : [v])
    .flatMap((x) => String(x).split('\\'))
    .map((s) => s.trim())
    .filter(Boolean);
}

function count(e: DimseElements, key: string): number | null {
  const n = Number(text(e, key));
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** QIDO-RS study query parameters (already validated) to a C-FIND identifier with its return keys. */
export function studyFindKeys(q: URLSearchParams): DimseElements {
  return {
    PatientID: q.get('PatientID') ?? '',
    PatientName: q.get('PatientName') ?? '',
    AccessionNumber: q.get('AccessionNumber') ?? '',
    StudyDate: q.get('StudyDate') ?? '',
    ModalitiesInStudy: q.get('ModalitiesInStudy') ?? '',
    StudyInstanceUID: '',
    PatientBirthDate: '',
    StudyDescription: '',
    NumberOfStudyRelatedSeries: '',
    NumberOfStudyRelatedInstances: '',
  };
}

export async function searchStudiesDimse(
  node: PacsNode,
  q: URLSearchParams,
  options: { callingAeTitle: string; signal?: AbortSignal },
): Promise<StudyRow[]> {
  const limit = Number(q.get('limit') ?? 50);
  const rows = await cFind(node, 'STUDY', studyFindKeys(q), { ...options, limit, pduTimeoutMs: 30_000 });
  return rows.map((e) => ({
    studyInstanceUid: text(e, 'StudyInstanceUID'),
    patientName: text(e, 'PatientName'),
    patientId: text(e, 'PatientID'),
    patientBirthDate: text(e, 'PatientBirthDate'),
    studyDate: text(e, 'StudyDate'),
    accessionNumber: text(e, 'AccessionNumber'),
    description: text(e, 'StudyDescription'),
    modalities: texts(e, 'ModalitiesInStudy'),
    numberOfSeries: count(e, 'NumberOfStudyRelatedSeries'),
    numberOfInstances: count(e, 'NumberOfStudyRelatedInstances'),
  }));
}

export async function searchSeriesDimse(
  node: PacsNode,
  studyUid: string,
  options: { callingAeTitle: string; signal?: AbortSignal },
): Promise<SeriesRow[]> {
  const keys: DimseElements = {
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: '',
    Modality: '',
    SeriesNumber: '',
    SeriesDescription: '',
    NumberOfSeriesRelatedInstances: '',
    BodyPartExamined: '',
  };
  const rows = await cFind(node, 'SERIES', keys, { ...options, limit: 2000, pduTimeoutMs: 30_000 });
  return rows.map((e) => ({
    seriesInstanceUid: text(e, 'SeriesInstanceUID'),
    modality: text(e, 'Modality'),
    seriesNumber: count(e, 'SeriesNumber'),
    description: text(e, 'SeriesDescription'),
    numberOfInstances: count(e, 'NumberOfSeriesRelatedInstances'),
    bodyPart: text(e, 'BodyPartExamined'),
  }));
}

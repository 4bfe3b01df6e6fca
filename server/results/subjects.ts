import type { Queryable } from '../db/database.ts';
import { seriesSubjects, type SeriesSubject } from '../dicomIndex/seriesSubjects.ts';
import { safeFileName } from './names.ts';

/**
 * Whose scan a job or result is (patient name and ID, study date, modality, series description) and the one name
 * the signed-in pages show for it. Patient data: for the pages and the API that feeds them only, never for logs,
 * the phone page or download file names.
 */
export type Subject = SeriesSubject;

/** DICOM PN "Family^Given^Middle^Prefix^Suffix" (first component group) as "Family, Given Middle". */
export function formatPatientName(pn: string | null | undefined): string | null {
  if (!pn) return null;
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = (pn.split('=')[0] ?? '')
    .split('^')
    .map((p) => p.trim());
  const first = [prefix, given, middle].filter(Boolean).join(' ');
  const name = [family, first].filter(Boolean).join(', ') + (suffix ? ` ${suffix}` : '');
  return name || null;
}

/** DICOM DA "YYYYMMDD" as "YYYY-MM-DD"; anything else as it is. */
export function formatStudyDate(da: string | null | undefined): string | null {
  if (!da) return null;
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da.trim() || null;
}

/**
 * One display name for a job and its result, the same on the queue and the files page: patient, series
 * (description, else modality), study date; `fallback` (an uploaded file's name) when the index has nothing.
 */
export function displayName(subject: Subject | null | undefined, fallback: string | null): string {
  const patient = formatPatientName(subject?.patientName) ?? subject?.patientId ?? null;
  const series = subject?.seriesDescription?.trim() || (subject?.modality ? `${subject.modality} series` : null);
  const parts = [patient, series ?? fallback, formatStudyDate(subject?.studyDate)].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : (fallback ?? 'Unnamed series');
}

/**
 * A download's file name with the patient ID and study date in front (`P-0042_20240301_CT_Body-1a2b.glb`), for
 * DOWNLOAD_NAMES=patient; the name as it is when the result has neither.
 */
export function patientDownloadName(subject: Subject | null, name: string): string {
  const parts = [subject?.patientId, subject?.studyDate].filter((p): p is string => Boolean(p?.trim()));
  return parts.length ? `${parts.map(safeFileName).join('_')}_${name}` : name;
}

/** The subject of each job: its result's copy when it has one, else the index (for a series not yet processed). */
export async function subjectsOfJobs(
  db: Queryable,
  jobs: ReadonlyArray<{ id: string; seriesUid: string | null }>,
): Promise<Map<string, Subject>> {
  const found = new Map<string, Subject>();
  if (jobs.length === 0) return found;
  const { rows } = await db.query<{
    job_id: string;
    patient_name: string | null;
    patient_id: string | null;
    study_date: string | null;
    modality: string | null;
    series_description: string | null;
  }>(
    `SELECT job_id, patient_name, patient_id, study_date, modality, series_description FROM results
      WHERE job_id = ANY($1::uuid[])`,
    [jobs.map((j) => j.id)],
  );
  for (const r of rows) {
    found.set(r.job_id, {
      patientName: r.patient_name,
      patientId: r.patient_id,
      studyDate: r.study_date,
      modality: r.modality,
      seriesDescription: r.series_description,
    });
  }
  const missing = jobs.filter((j) => !found.has(j.id) && j.seriesUid);
  const bySeries = await seriesSubjects(
    db,
    missing.map((j) => j.seriesUid as string),
  );
  for (const j of missing) {
    const s = bySeries.get(j.seriesUid as string);
    if (s) found.set(j.id, s);
  }
  return found;
}

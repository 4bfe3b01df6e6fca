import type { Queryable } from '../db/database.ts';

/** Whose scan a series is, as the index holds it: patient data, read only for the signed-in pages. */
export interface SeriesSubject {
  patientName: string | null;
  patientId: string | null;
  studyDate: string | null;
  modality: string | null;
  seriesDescription: string | null;
}

/** The subject of each of these series that the index still holds. */
export async function seriesSubjects(q: Queryable, seriesUids: readonly string[]): Promise<Map<string, SeriesSubject>> {
  if (seriesUids.length === 0) return new Map();
  const { rows } = await q.query<{
    series_uid: string;
    patient_name: string | null;
    patient_id: string | null;
    study_date: string | null;
    modality: string | null;
    series_description: string | null;
  }>(
    `SELECT se.series_uid, st.patient_name, st.patient_id, st.study_date, se.modality, se.series_description
       FROM dicom_series AS se JOIN dicom_studies AS st ON st.study_uid = se.study_uid
      WHERE se.series_uid = ANY($1::text[])`,
    [[...new Set(seriesUids)]],
  );
  return new Map(
    rows.map((r) => [
      r.series_uid,
      {
        patientName: r.patient_name,
        patientId: r.patient_id,
        studyDate: r.study_date,
        modality: r.modality,
        seriesDescription: r.series_description,
      },
    ]),
  );
}

/** Marks series whose blank UIDs were generated from their files' content (server/dicom/blankUids.ts). */
export async function markUidsGenerated(q: Queryable, seriesUids: readonly string[]): Promise<void> {
  if (seriesUids.length === 0) return;
  await q.query(
    'UPDATE dicom_series SET uids_generated = true WHERE series_uid = ANY($1::text[]) AND NOT uids_generated',
    [[...new Set(seriesUids)]],
  );
}

/** Which of these series had their UIDs generated. */
export async function seriesWithGeneratedUids(q: Queryable, seriesUids: readonly string[]): Promise<Set<string>> {
  if (seriesUids.length === 0) return new Set();
  const { rows } = await q.query<{ series_uid: string }>(
    'SELECT series_uid FROM dicom_series WHERE series_uid = ANY($1::text[]) AND uids_generated',
    [[...new Set(seriesUids)]],
  );
  return new Set(rows.map((r) => r.series_uid));
}

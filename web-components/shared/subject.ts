import type { ResultJson } from './api.ts';

type Subject = NonNullable<ResultJson['subject']>;

/** DICOM DA "YYYYMMDD" as "YYYY-MM-DD"; anything else as it is. */
function studyDate(da: string | null): string | null {
  const m = da ? /^(\d{4})(\d{2})(\d{2})$/.exec(da) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/**
 * The facts beside a job's or result's display name, the same on the queue and the files page: patient ID,
 * study date and modality (the name itself already leads with the patient's name and the series).
 */
export function subjectFacts(subject: Subject | null | undefined): string[] {
  if (!subject) return [];
  const facts: string[] = [];
  if (subject.patientId) facts.push(`ID ${subject.patientId}`);
  const date = studyDate(subject.studyDate);
  if (date) facts.push(`Study ${date}`);
  if (subject.modality) facts.push(subject.modality);
  return facts;
}

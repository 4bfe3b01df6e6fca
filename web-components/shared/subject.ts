import type { ResultJson } from './api.ts';

type Subject = NonNullable<ResultJson['subject']>;

/**
 * The facts beside a job's or result's display name, the same on the queue and the files page: patient ID and
 * modality (the name itself holds the patient's name, the series and the study date).
 */
export function subjectFacts(subject: Subject | null | undefined): string[] {
  if (!subject) return [];
  const facts: string[] = [];
  if (subject.patientId) facts.push(`ID ${subject.patientId}`);
  if (subject.modality) facts.push(subject.modality);
  return facts;
}

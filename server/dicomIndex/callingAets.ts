import type { Queryable } from '../db/database.ts';

/** The calling AE titles that sent instances of a series over DIMSE. */
export async function callingAetsOfSeries(q: Queryable, seriesUid: string): Promise<string[]> {
  const { rows } = await q.query<{ calling_aet: string }>(
    'SELECT DISTINCT calling_aet FROM dicom_instances WHERE series_uid = $1 AND calling_aet IS NOT NULL',
    [seriesUid],
  );
  return rows.map((r) => r.calling_aet);
}

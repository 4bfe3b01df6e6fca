import type { Queryable } from '../db/database.ts';

/** `pacs_retrieved_series` (migration 0005): which node a series was retrieved from, for the export rules. */

export async function noteSeriesRetrieved(q: Queryable, seriesUid: string, node: string): Promise<void> {
  await q.query(
    `INSERT INTO pacs_retrieved_series (series_uid, node) VALUES ($1, $2)
     ON CONFLICT (series_uid, node) DO UPDATE SET retrieved_at = now()`,
    [seriesUid, node],
  );
}

export async function nodesRetrievedFrom(q: Queryable, seriesUid: string): Promise<string[]> {
  const { rows } = await q.query<{ node: string }>('SELECT node FROM pacs_retrieved_series WHERE series_uid = $1', [
    seriesUid,
  ]);
  return rows.map((r) => r.node);
}

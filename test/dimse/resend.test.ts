import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDimseServer } from '../../server/dimse/scp.ts';
import { builtinEngine } from '../../server/engines/builtin/builtinEngine.ts';
import type { ProcessPayload } from '../../server/jobs/kinds.ts';
import { silentLogger } from '../../server/log.ts';
import { createProcessTask } from '../../server/processing/processTask.ts';
import { listResults } from '../../server/results/readResults.ts';
import { createProcessJobForSeries } from '../../server/series/processJobForSeries.ts';
import { testAppDeps, withTestDatabase } from '../support/db.ts';
import { hasProgram, requireOrSkip, requireTestData, testDataPath } from '../support/requirements.ts';
import { dcmtk } from './dcmtk.ts';

test('a series sent again unchanged by storescu after its job makes no second job and leaves one result', async (t) => {
  if (!requireTestData(t) || !requireOrSkip(t, hasProgram('storescu'), 'DCMTK storescu (apt-get install dcmtk)'))
    return;
  const folder = testDataPath('derived_made_here', 'dicom', 'totalseg_torso_20sl_uids_uncompressed');
  await withTestDatabase('pglite', t, async (db) => {
    const deps = await testAppDeps(db, t);
    const server = await startDimseServer(deps, { port: 0 });
    try {
      const send = async (): Promise<string> => {
        const r = await dcmtk('storescu', [
          '-aet',
          'PACS',
          '-aec',
          'ANATOMYGW',
          '+sd',
          '127.0.0.1',
          String(server.port),
          folder,
        ]);
        assert.equal(r.code, 0, r.stderr);
        const rows = await db.query<{ series_uid: string }>('SELECT DISTINCT series_uid FROM dicom_instances');
        assert.equal(rows.rows.length, 1);
        return rows.rows[0].series_uid;
      };
      const series = await send();
      const first = await createProcessJobForSeries(deps, series);
      assert.ok(first.created);
      const job = await deps.queue.get(first.jobId);
      assert.ok(job);
      await createProcessTask(deps, { engine: builtinEngine, reason: 'test' })(
        { id: job.id, kind: 'process', payload: job.payload as unknown as ProcessPayload, attempt: 1, maxAttempts: 3 },
        {
          db,
          signal: new AbortController().signal,
          progress: async () => {},
          setEngine: async () => {},
          log: () => {},
          logger: silentLogger(),
        },
      );
      await db.query("UPDATE jobs SET state = 'succeeded' WHERE id = $1", [job.id]);

      assert.equal(await send(), series);
      const again = await createProcessJobForSeries(deps, series);
      assert.ok(!again.created);
      assert.match(again.reason, /sent again unchanged/);
      const jobs = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE kind = 'process'");
      assert.equal(jobs.rows[0].n, 1, 'no second job');
      assert.equal((await listResults(db)).length, 1, 'one result');
    } finally {
      await server.close();
    }
  });
});

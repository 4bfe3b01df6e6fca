import type { Database } from '../db/database.ts';
import type { Events } from '../events.ts';
import { CHANNEL_JOB_CHANGED, type JobChange } from '../jobs/queue.ts';

/**
 * Job changes made by workers in any process reach the live queue (server-sent events) through
 * NOTIFY. Returns the function that stops listening.
 */
export function relayJobChanges(db: Database, events: Events): Promise<() => Promise<void>> {
  return db.listen(CHANNEL_JOB_CHANGED, (payload) => {
    try {
      const c = JSON.parse(payload) as JobChange;
      events.emit({ type: 'job', jobId: c.id, state: c.state, progress: c.progress, status: c.status });
    } catch {
      // a malformed notice is only a missed hint; the page still reads the jobs table
    }
  });
}

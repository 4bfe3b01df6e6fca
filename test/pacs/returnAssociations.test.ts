import { test } from 'node:test';
import assert from 'node:assert/strict';
import { audit } from '../../server/audit/audit.ts';
import type { Database } from '../../server/db/database.ts';
import { silentLogger } from '../../server/log.ts';
import { testDatabases, withTestDatabase } from '../support/db.ts';
import type { PacsNode } from '../../server/config/pacsNodes.ts';
import { databaseNow, returnAssociationsSince } from '../../server/pacs/returnAssociations.ts';

const node: PacsNode = {
  name: 'mover',
  dimse: { host: '10.1.2.3', port: 104, aeTitle: 'PACS_MOVE', retrieve: 'move' },
  export: { retrieved: false, callingAets: [] },
};

function refusal(db: Database, actor: string, address: string, reason: string, why: string): Promise<void> {
  return audit(
    { db, logger: silentLogger() },
    {
      event: 'dimse-store',
      outcome: 'failure',
      actor,
      address,
      details: { rejected: reason, calledAet: 'ANATOMYGW', why },
    },
  );
}

for (const driver of testDatabases()) {
  test(`[${driver}] a node's return associations are found by AE title or address, from the C-MOVE's start on`, async (t) => {
    await withTestDatabase(driver, t, async (db) => {
      await refusal(db, 'ae:PACS_MOVE', '10.1.2.3', 'local-limit-exceeded', 'too many');
      const since = await databaseNow(db);
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(await returnAssociationsSince(db, node, since), { refused: [], accepted: 0 }, 'earlier rows');

      // Another peer refused at the same time is not the node's.
      await refusal(db, 'ae:INTRUDER', '10.9.9.9', 'calling-ae-not-recognized', 'not allowed');
      // The node calling from another AE title is recognised by its address (IPv4-mapped on the socket).
      await refusal(db, 'ae:PACS_OUT', '::ffff:10.1.2.3', 'calling-ae-not-recognized', 'PACS_OUT not allowed');
      // An association accepted and closed, from the node's configured AE title on another address.
      await audit(
        { db, logger: silentLogger() },
        { event: 'dimse-store', actor: 'ae:PACS_MOVE', address: '10.1.2.4', details: { stored: 2, failed: 0 } },
      );
      // Other events are not associations.
      await audit({ db, logger: silentLogger() }, { event: 'stow', actor: 'ae:PACS_MOVE', address: '10.1.2.3' });

      const seen = await returnAssociationsSince(db, node, since);
      assert.deepEqual(seen, {
        refused: [
          {
            callingAet: 'PACS_OUT',
            calledAet: 'ANATOMYGW',
            address: '10.1.2.3',
            reason: 'calling-ae-not-recognized',
            why: 'PACS_OUT not allowed',
          },
        ],
        accepted: 1,
      });
      assert.deepEqual(await returnAssociationsSince(db, { ...node, dimse: undefined }, since), {
        refused: [],
        accepted: 0,
      });
    });
  });
}

/**
 * Child process of openPgliteDatabase: creates an embedded PGlite cluster (initdb) in argv[2] and exits.
 * initdb runs in its own WASM instance that PGlite keeps referenced after start-up; run in the server it left
 * hundreds of MB of RSS behind for the life of the process (docs/performance.md).
 */
import { PGlite } from '@electric-sql/pglite';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pgliteInitdb.ts <dataDir>');
const lite = await PGlite.create({ dataDir });
await lite.close();
process.exit(0);

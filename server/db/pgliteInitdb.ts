/**
 * Child process of openPgliteDatabase: creates an embedded PGlite cluster (initdb) in argv[2] and exits.
 * initdb runs in its own WASM instance that PGlite keeps referenced after start-up; run in the server it
 * left about 450 MB of RSS behind for the life of the process (813 MB after a fresh start against 367 MB
 * when the folder already existed).
 */
import { PGlite } from '@electric-sql/pglite';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pgliteInitdb.ts <dataDir>');
const lite = await PGlite.create({ dataDir });
await lite.close();
process.exit(0);

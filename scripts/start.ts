/**
 * `npm start`: the server, with the web pages built once the settings are known to be good, DATA_DIR is free
 * and the port is bound, so `--help`, a bad setting or a busy port answer at once.
 */
import { runAsProcess } from '../server/main.ts';
import { buildWeb } from './build-web.ts';

runAsProcess({
  prepare: async () => {
    await buildWeb();
  },
});

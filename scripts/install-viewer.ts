/**
 * Installs the OHIF viewer's prebuilt web app (the `dist/` folder of the npm package @ohif/app) into
 * node_modules/.viewer/ohif-app-<version>/, run by `npm install`/`npm ci` (postinstall).
 *
 * The package is fetched with `npm pack` from the npm registry npm is configured with (so its cache
 * and proxy settings apply) and checked against the integrity pinned here. It is not a dependency:
 * @ohif/app lists its build toolchain as dependencies (webpack loaders, React, ...), hundreds of
 * packages of which some versions are not even published, while the server only serves `dist/`.
 *
 * The viewer is optional: when this fails (no registry), the install still succeeds, the rest of the
 * server works and /healthz says why the viewer is missing.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OHIF_APP, viewerInstallDir } from '../server/viewer/viewerDist.ts';

const run = promisify(execFile);

async function main(): Promise<void> {
  const target = viewerInstallDir();
  if (existsSync(join(target, 'dist', 'index.html'))) return;
  const work = await mkdtemp(join(tmpdir(), 'ohif-app-'));
  try {
    const npmCli = process.env.npm_execpath;
    const [cmd, args] = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
    await run(cmd, [...args, 'pack', `${OHIF_APP.name}@${OHIF_APP.version}`, '--pack-destination', work, '--silent'], {
      maxBuffer: 16 * 1024 * 1024,
      timeout: 10 * 60_000,
    });
    const tgz = join(work, `ohif-app-${OHIF_APP.version}.tgz`);
    const digest = `sha512-${createHash('sha512')
      .update(await readFile(tgz))
      .digest('base64')}`;
    if (digest !== OHIF_APP.integrity) throw new Error(`the package's integrity is ${digest}, not the pinned one`);
    await run('tar', ['-xzf', tgz, '-C', work, 'package/dist']);
    const staging = `${target}.partial`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    await rename(join(work, 'package', 'dist'), join(staging, 'dist'));
    await writeFile(join(staging, 'VERSION'), `${OHIF_APP.name}@${OHIF_APP.version}\n`);
    await rm(target, { recursive: true, force: true });
    await rename(staging, target);
    process.stdout.write(`viewer: installed ${OHIF_APP.name}@${OHIF_APP.version}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `viewer: ${OHIF_APP.name}@${OHIF_APP.version} was not installed (${err instanceof Error ? err.message : String(err)}); ` +
      'everything else works, /viewer/ answers 503 and /healthz says why. Run `npm run install-viewer` to try again.\n',
  );
});

/**
 * Bundles the web pages into dist/web/ (run by `npm run build`, and before `npm start`/`npm test`).
 *
 *   dist/web/index.html, files.html   page shells with hashed asset names filled in
 *   dist/web/assets/*                 content-hashed JS/CSS (served with a one-year immutable cache)
 *                                     + a .gz twin of every text asset, so the server sends gzip without
 *                                     compressing per request
 *   dist/web/assets/vendor/           glTF decoders model-viewer would otherwise fetch from Google's CDN
 *                                     (a hospital LAN has no internet)
 *   dist/web/manifest.json            stable name -> served path, for pages rendered by the server
 *
 * model-viewer (and three.js under it) is only ever reached through a dynamic import(), so esbuild's
 * code splitting keeps it out of the initial download.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { gzipSync, constants as zlibConstants } from 'node:zlib';
import { build, type Metafile } from 'esbuild';

const root = join(import.meta.dirname, '..');
const src = join(root, 'web-components');
export const WEB_OUT = join(root, 'dist', 'web');

/** Entry scripts and stylesheets, by the stable name pages refer to. */
const ENTRIES = {
  upload: join(src, 'pages', 'upload-page.ts'),
  files: join(src, 'pages', 'files-page.ts'),
  login: join(src, 'pages', 'login-page.ts'),
  pacs: join(src, 'pages', 'pacs-page.ts'),
  admin: join(src, 'pages', 'admin-page.ts'),
  app: join(src, 'styles', 'app.css'),
  phone: join(src, 'styles', 'phone.css'),
};

const PAGES = ['index.html', 'files.html', 'login.html', 'pacs.html', 'admin.html'];

function hash(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64url').slice(0, 10).replace(/[-_]/g, 'x');
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])),
  );
  return files.flat();
}

async function copyHashed(
  assets: string,
  from: string,
  manifest: Record<string, string>,
  as = basename(from),
): Promise<void> {
  const data = await readFile(from);
  const ext = extname(as);
  const name = `${as.slice(0, -ext.length || undefined)}-${hash(data)}${ext}`;
  await writeFile(join(assets, name), data);
  manifest[as] = `/assets/${name}`;
}

/** `outDir` other than dist/web is for tests that must not disturb a server using the real one. */
export async function buildWeb(
  options: { minify?: boolean; outDir?: string } = {},
): Promise<{ manifest: Record<string, string>; metafile: Metafile; outDir: string }> {
  const out = options.outDir ?? WEB_OUT;
  const assets = join(out, 'assets');
  await rm(out, { recursive: true, force: true });
  await mkdir(join(assets, 'vendor', 'draco'), { recursive: true });
  await mkdir(join(assets, 'vendor', 'basis'), { recursive: true });

  const result = await build({
    absWorkingDir: root,
    entryPoints: ENTRIES,
    outdir: assets,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    entryNames: '[name]-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    assetNames: '[name]-[hash]',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });

  const manifest: Record<string, string> = {};
  const preloads: Record<string, string[]> = {};
  for (const [file, info] of Object.entries(result.metafile.outputs)) {
    if (!info.entryPoint) continue;
    const stable = Object.entries(ENTRIES).find(([, path]) => relative(root, path) === info.entryPoint)?.[0];
    if (!stable) continue;
    const served = `/${relative(out, join(root, file))}`;
    const kind = file.endsWith('.css') ? 'css' : 'js';
    manifest[`${stable}.${kind}`] = served;
    if (kind === 'js') {
      // Static imports of the entry are needed at once: preloading them saves a round trip each.
      preloads[stable] = info.imports
        .filter((i) => i.kind === 'import-statement')
        .map((i) => `/${relative(out, join(root, i.path))}`);
    }
  }

  const static_ = join(src, 'static');
  for (const file of await walk(static_).catch(() => [])) await copyHashed(assets, file, manifest);

  // Decoders for compressed glTF, served locally; the names stay fixed because the decoder loaders
  // build the file names themselves from a directory path.
  const libs = join(root, 'node_modules', 'three', 'examples', 'jsm', 'libs');
  for (const f of ['draco_decoder.js', 'draco_decoder.wasm', 'draco_wasm_wrapper.js']) {
    await copyFile(join(libs, 'draco', 'gltf', f), join(assets, 'vendor', 'draco', f));
  }
  for (const f of ['basis_transcoder.js', 'basis_transcoder.wasm']) {
    await copyFile(join(libs, 'basis', f), join(assets, 'vendor', 'basis', f));
  }
  manifest['draco/'] = '/assets/vendor/draco/';
  manifest['basis/'] = '/assets/vendor/basis/';

  for (const page of PAGES) {
    let html = await readFile(join(src, 'pages', page), 'utf8');
    html = html.replace(/%([a-z0-9./:-]+)%/g, (_whole, name: string) => {
      if (name.startsWith('preload:')) {
        const entry = name.slice('preload:'.length);
        return (preloads[entry] ?? []).map((p) => `<link rel="modulepreload" href="${p}">`).join('\n');
      }
      const path = manifest[name];
      if (!path) throw new Error(`${page}: no asset named "${name}"`);
      return path;
    });
    await writeFile(join(out, page), html);
  }

  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

  for (const file of await walk(assets)) {
    if (!/\.(js|css|svg|map|json|txt|wasm)$/.test(file)) continue;
    const data = await readFile(file);
    if (data.length < 1024) continue;
    await writeFile(`${file}.gz`, gzipSync(data, { level: zlibConstants.Z_BEST_COMPRESSION }));
  }

  return { manifest, metafile: result.metafile, outDir: out };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = Date.now();
  const { manifest } = await buildWeb();
  process.stdout.write(
    `web: built ${Object.keys(manifest).length} assets into ${relative(process.cwd(), WEB_OUT)} in ${Date.now() - started} ms\n`,
  );
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildWeb } from '../../scripts/build-web.ts';

const LIMIT_GZIP = 60 * 1024;

test('initial JavaScript of each page is under 60 KB gzip, with model-viewer and NiiVue only behind dynamic imports', async (t) => {
  const outDir = await mkdtemp(join(tmpdir(), 'ag-web-'));
  t.after(() => rm(outDir, { recursive: true, force: true }));
  const { metafile } = await buildWeb({ outDir });
  const root = join(import.meta.dirname, '..', '..');
  const outputs = metafile.outputs;

  // Everything an entry pulls in before it runs: itself and its static imports, transitively.
  const staticClosure = (file: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(file)) return seen;
    seen.add(file);
    for (const i of outputs[file].imports) if (i.kind === 'import-statement') staticClosure(i.path, seen);
    return seen;
  };

  const entries = Object.entries(outputs).filter(
    ([file, o]) => o.entryPoint?.startsWith('web-components/pages/') && file.endsWith('.js'),
  );
  const pages = entries.map(([, o]) => o.entryPoint);
  for (const page of ['web-components/pages/upload-page.ts', 'web-components/pages/files-page.ts'])
    assert.ok(pages.includes(page), `${page} is built`);
  const sizes: Record<string, number> = {};
  for (const [file, o] of entries) {
    const closure = staticClosure(file);
    let gz = 0;
    for (const f of closure) gz += gzipSync(await readFile(join(root, f)), { level: 9 }).length;
    sizes[o.entryPoint as string] = gz;
    assert.ok(gz < LIMIT_GZIP, `${o.entryPoint}: ${gz} bytes gzip of initial JavaScript`);
    const inputs = [...closure].flatMap((f) => Object.keys(outputs[f].inputs));
    assert.ok(
      !inputs.some(
        (i) => i.includes('@google/model-viewer') || i.includes('node_modules/three/') || i.includes('@niivue/'),
      ),
      `${o.entryPoint} pulls model-viewer or NiiVue in statically`,
    );
  }
  const viewerChunk = Object.entries(outputs).find(([, o]) =>
    Object.keys(o.inputs).some((i) => i.includes('@google/model-viewer')),
  );
  assert.ok(viewerChunk, 'model-viewer is bundled (no CDN)');
  process.stdout.write(
    `# initial JS gzip: ${JSON.stringify(sizes)}; model-viewer chunk ${relative(outDir, join(root, viewerChunk[0]))}\n`,
  );
});

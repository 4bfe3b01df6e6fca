import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { assemble, generatedModule, WASM_SOURCES } from './build-wasm.ts';

test('the committed WebAssembly binaries are assembled from their current .wat sources', async () => {
  for (const { wat, ts, name } of WASM_SOURCES) {
    const binary = await assemble(wat);
    assert.ok(WebAssembly.validate(binary), `${wat} assembles to valid WebAssembly`);
    assert.equal(
      await readFile(ts, 'utf8'),
      generatedModule(wat, name, binary),
      `${ts} is stale: run npm run build:wasm`,
    );
  }
});

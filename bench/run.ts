/**
 * `npm run bench [-- name...]`: runs every bench/<name>.bench.ts in its own Node process (so peak RSS figures
 * belong to one benchmark) and prints one JSON document: { machine, results: { name: {...} } }.
 * Progress goes to stderr; stdout is only the JSON.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const here = import.meta.dirname;
const only = process.argv.slice(2);

if (process.env.BENCH_CHILD) {
  const mod = (await import(join(here, `${process.env.BENCH_CHILD}.bench.ts`))) as {
    run: () => Promise<Record<string, unknown>>;
  };
  const result = await mod.run();
  process.stdout.write(`\n@@BENCH_RESULT@@${JSON.stringify(result)}\n`);
  process.exit(0);
}

const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .filter((n) => only.length === 0 || only.includes(n))
  .sort();

const results: Record<string, unknown> = {};
for (const name of names) {
  process.stderr.write(`bench: ${name}...\n`);
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, 'run.ts')], {
    env: { ...process.env, BENCH_CHILD: name },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const marker = child.stdout.lastIndexOf('@@BENCH_RESULT@@');
  if (child.status === 0 && marker !== -1) {
    results[name] = JSON.parse(child.stdout.slice(marker + '@@BENCH_RESULT@@'.length).trim());
  } else {
    results[name] = { error: `exit ${child.status ?? child.signal}`, output: child.stdout.slice(-2000) };
  }
  process.stderr.write(`bench: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

process.stdout.write(
  `${JSON.stringify(
    {
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      results,
    },
    null,
    2,
  )}\n`,
);

/**
 * Runs `*.test.ts` files with node's test runner (Node 20's runner neither discovers .ts files nor expands globs,
 * so the list is built here). Two tiers:
 * - `--unit` (npm run test:unit): the tests next to their modules under server/, web-components/, scripts/ and
 *   bench/, which use no database, server, outside program or real data;
 * - otherwise (npm test) those and the integration and peer tests under test/.
 * Usage: npm test [-- path-filter ...]   (filters keep files whose path contains any of them)
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const roots = unit
  ? ['server', 'web-components', 'scripts', 'bench']
  : ['server', 'test', 'web-components', 'scripts', 'bench'];
const filters = args.filter((a) => !a.startsWith('--'));
const passThrough = args.filter((a) => a.startsWith('--') && a !== '--unit');

function walk(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
}

const files: string[] = [];
for (const r of roots) walk(join(root, r), files);
files.sort();
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...passThrough, ...selected],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

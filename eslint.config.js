// ESLint: typescript-eslint's recommended rules, and the server's layering. `npm run lint` runs it with Prettier.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The rooms of server/, lowest first (docs/architecture.md draws them). A room imports only from rooms on lower
 * floors: never upward, never sideways. Protocol rooms (dicomweb, dimse, pacs, http) sit above the domain rooms they
 * call. Entries are folders, or single files at server/'s top.
 */
const FLOORS = [
  ['config', 'errors.ts', 'log.ts', 'events.ts', 'heapTuning.ts'],
  ['db', 'dicom'],
  ['jobs', 'storage', 'volume', 'audit', 'dicomIndex'],
  ['terminology'],
  ['mesh', 'seg', 'results', 'auth'],
  ['engines', 'retention', 'downloads', 'viewer'],
  ['series'],
  ['ingest', 'processing'],
  ['dicomweb', 'dimse'],
  ['pacs'],
  ['app'],
  ['http'],
  ['cli.ts'],
  ['main.ts'],
];

/** Imports the floors alone would allow but the design does not: an engine is given its work, not a job. */
const ALSO_FORBIDDEN = [
  { room: 'engines', from: ['jobs'], message: 'engines run inside a job but know nothing of the queue' },
];

const path = (entry) => `./server/${entry}`;
const zones = [];
for (const [level, floor] of FLOORS.entries()) {
  for (const room of floor) {
    const above = FLOORS.slice(level + 1).flat();
    const beside = floor.filter((r) => r !== room);
    const from = [...above, ...beside].map(path);
    if (from.length > 0)
      zones.push({
        target: path(room),
        from,
        message: `server/${room} is on floor ${level}: it imports only from lower floors (eslint.config.js, docs/architecture.md)`,
      });
  }
}
for (const { room, from, message } of ALSO_FORBIDDEN) zones.push({ target: path(room), from: from.map(path), message });

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Names, paths and query values holding control characters are refused, so patterns match them on purpose.
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['server/**/*.ts'],
    ignores: ['server/**/*.test.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: { 'import-x/no-restricted-paths': ['error', { zones }] },
  },
);

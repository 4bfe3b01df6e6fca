import { SETTINGS } from './config/config.ts';

export const COMMANDS = {
  serve: 'HTTP server, DICOMweb/DIMSE ingest and an in-process worker (default)',
  worker: 'a worker only, for more machines against one PostgreSQL (needs DATABASE_URL)',
  migrate: 'apply database migrations and exit',
  doctor: 'check the segmentation engines for real and say how to fix what is missing',
  users: 'list | add <name> [roles] | reset-password <name>: accounts, from this machine (prints the password)',
} as const;
export type Command = keyof typeof COMMANDS;

export interface ParsedArgs {
  command: Command | 'help';
  /** Settings given as flags, by their environment name (`--port 9000` -> PORT=9000). */
  env: Record<string, string>;
  /** Words after `users` (its action and name). */
  args?: string[];
}

export class UsageError extends Error {}

const SETTING_NAMES = new Set(SETTINGS.map((s) => s.name));

/** `main.ts [command] [--setting value | --setting=value]...`; flags mirror the environment settings. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  let command: ParsedArgs['command'] | undefined;
  const env: Record<string, string> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h' || arg === 'help') return { command: 'help', env };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const name = flag.toUpperCase().replace(/-/g, '_');
      if (!SETTING_NAMES.has(name)) throw new UsageError(`unknown option --${flag} (see --help)`);
      const value: string | undefined = eq === -1 ? argv[i + 1] : arg.slice(eq + 1);
      if (eq === -1) {
        if (value === undefined || value.startsWith('--')) throw new UsageError(`--${flag} needs a value`);
        i++;
      }
      env[name] = value;
      continue;
    }
    if (command === 'users') {
      args.push(arg);
      continue;
    }
    if (command !== undefined) throw new UsageError(`unexpected argument "${arg}" (see --help)`);
    if (!(arg in COMMANDS))
      throw new UsageError(`unknown command "${arg}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    command = arg as Command;
  }
  return command === 'users' ? { command, env, args } : { command: command ?? 'serve', env };
}

export function helpText(): string {
  const width = Math.max(...SETTINGS.map((s) => s.name.length));
  return [
    'anatomy-gateway: CT/MR series in, 3D anatomy models (OpenAnatomy glTF) out.',
    '',
    'Usage: npm start | node --import tsx server/main.ts [command] [--setting value]...',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, help]) => `  ${name.padEnd(8)} ${help}`),
    '',
    'Settings (environment variables; the flag --name-in-lower-case sets the same):',
    ...SETTINGS.map((s) => `  ${s.name.padEnd(width)}  ${s.help}${s.default ? ` [default: ${s.default}]` : ''}`),
    '',
  ].join('\n');
}

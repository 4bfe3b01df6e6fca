import { isAbsolute, resolve } from 'node:path';
import { parsePacsNodes, PacsNodesError, type PacsNode } from './pacsNodes.ts';

/**
 * Settings come from the environment (CLI flags mirror them; see main.ts) and are read once, here,
 * by a pure function of `env`. A bad value throws a ConfigError whose message names the setting,
 * and the process stops with that one line.
 */

export const ENGINE_CHOICES = ['auto', 'builtin', 'slicer', 'totalsegmentator'] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];
export const SEGMENTATION_QUALITIES = ['normal', 'fast', 'fastest'] as const;
export const DOWNLOAD_NAMES = ['series', 'patient'] as const;
export const SEGMENTATION_DEVICES = ['gpu', 'cpu', 'mps'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** Unset means embedded PGlite under `dataDir/pglite`. */
  databaseUrl: string | undefined;
  publicUrl: string | undefined;
  engine: EngineChoice;
  slicerPath: string | undefined;
  slicerTimeoutSeconds: number;
  totalSegmentatorPath: string | undefined;
  /** TotalSegmentator model resolution: normal (1.5 mm), fast (3 mm), fastest (6 mm). */
  segmentationQuality: (typeof SEGMENTATION_QUALITIES)[number];
  /** 'gpu' uses a GPU when PyTorch sees one and falls back to the CPU. */
  segmentationDevice: (typeof SEGMENTATION_DEVICES)[number];
  workerConcurrency: number;
  /** How long a claimed job stays ours without a renewal; after a crash the job is run again once it lapses. */
  jobLeaseSeconds: number;
  seriesStableSeconds: number;
  dimsePort: number | undefined;
  aeTitle: string;
  /** Empty: any calling AE title is accepted; else the PACS_NODES AE titles are let in too (allowedCallingAets). */
  dimseAllowedAets: string[];
  /** PEM file paths for DICOM TLS on DIMSE_PORT; `ca` set means peers must present a certificate it signed. */
  dimseTls: DimseTlsPaths | undefined;
  auth: boolean;
  /** How long a browser sign-in lasts. */
  sessionTtlHours: number;
  /**
   * Failed sign-ins for one user name from one address per 15 minutes before that pair gets 429; a user name from
   * any address gets 5 times this, an address for any user names 20 times.
   */
  loginMaxFailures: number;
  /** Small request bodies (sign-in, JSON) must have arrived this long after the headers, else 408. */
  httpBodyTimeoutSeconds: number;
  /** Uploads and STOW-RS: a body that sends nothing for this long is cut off (no total limit). */
  httpIdleTimeoutSeconds: number;
  /** Open HTTP connections from one client address; more are closed at once. */
  httpMaxConnectionsPerAddress: number;
  downloadLinkTtlSeconds: number;
  /** `patient`: files downloaded from the signed-in pages start with the patient ID and study date. */
  downloadNames: (typeof DOWNLOAD_NAMES)[number];
  keepInputs: boolean;
  /** An instance sent again under its SOP Instance UID replaces the stored copy (else the first copy stays). */
  overwriteInstances: boolean;
  resultRetentionDays: number;
  minFreeDiskMb: number;
  meshReduction: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  logLevel: LogLevel;
  /** PACS nodes to search, retrieve from and export to (PACS_NODES); credentials never leave the server. */
  pacsNodes: PacsNode[];
}

export interface DimseTlsPaths {
  cert: string;
  key: string;
  ca: string | undefined;
}

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Every setting with its default and help text; `--help` prints this table. */
export const SETTINGS: ReadonlyArray<{ name: string; default: string; help: string }> = [
  { name: 'PORT', default: '8080', help: 'HTTP port' },
  { name: 'HOST', default: '0.0.0.0', help: 'HTTP listen address' },
  { name: 'DATA_DIR', default: './data', help: 'instances, results, embedded database' },
  { name: 'DATABASE_URL', default: '(embedded PGlite)', help: 'postgres://... for a real PostgreSQL' },
  { name: 'PUBLIC_URL', default: '(LAN address)', help: 'address phones use for QR download links' },
  { name: 'ENGINE', default: 'auto', help: 'auto | builtin | slicer | totalsegmentator' },
  { name: 'SLICER_PATH', default: '(search)', help: '3D Slicer executable' },
  { name: 'SLICER_TIMEOUT_SECONDS', default: '3600', help: 'kill Slicer after this long' },
  { name: 'TOTALSEGMENTATOR_PATH', default: '(PATH)', help: 'TotalSegmentator CLI executable' },
  {
    name: 'SEGMENTATION_QUALITY',
    default: 'normal',
    help: 'TotalSegmentator: normal | fast | fastest (CPU: fast takes minutes, normal up to an hour)',
  },
  {
    name: 'SEGMENTATION_DEVICE',
    default: 'gpu',
    help: 'gpu (falls back to the CPU when none) | cpu | mps (Apple silicon)',
  },
  { name: 'WORKER_CONCURRENCY', default: '1', help: 'jobs run at once by this process' },
  { name: 'JOB_LEASE_SECONDS', default: '60', help: "a crashed worker's job runs again after this long" },
  { name: 'SERIES_STABLE_SECONDS', default: '10', help: 'quiet period before a series is queued' },
  { name: 'DIMSE_PORT', default: '(off)', help: 'DICOM C-STORE/C-ECHO port' },
  { name: 'AE_TITLE', default: 'ANATOMYGW', help: 'our DICOM AE title' },
  {
    name: 'DIMSE_ALLOWED_AETS',
    default: '(any)',
    help: 'comma-separated calling AE titles allowed; the PACS_NODES AE titles are added to them',
  },
  { name: 'DIMSE_TLS_CERT', default: '', help: 'PEM certificate: DIMSE_PORT speaks DICOM TLS only' },
  { name: 'DIMSE_TLS_KEY', default: '', help: 'PEM private key for DIMSE_TLS_CERT' },
  {
    name: 'DIMSE_TLS_CA',
    default: '',
    help: 'PEM CA certificates: DICOM peers must present a certificate they signed',
  },
  { name: 'AUTH', default: 'on', help: 'off disables access control (logged at every start)' },
  { name: 'SESSION_TTL_HOURS', default: '12', help: 'a browser sign-in lasts this long' },
  {
    name: 'LOGIN_MAX_FAILURES',
    default: '10',
    help: 'failed sign-ins per user name and address per 15 minutes before 429 (per user name 5x, per address 20x)',
  },
  {
    name: 'HTTP_BODY_TIMEOUT_SECONDS',
    default: '10',
    help: 'small request bodies (sign-in, JSON) must arrive within this, else 408',
  },
  {
    name: 'HTTP_IDLE_TIMEOUT_SECONDS',
    default: '60',
    help: 'uploads and STOW-RS are cut off after this long without data (no total limit)',
  },
  { name: 'HTTP_MAX_CONNECTIONS_PER_ADDRESS', default: '256', help: 'open HTTP connections from one address' },
  { name: 'DOWNLOAD_LINK_TTL', default: '3600', help: 'seconds a QR download link stays valid' },
  {
    name: 'DOWNLOAD_NAMES',
    default: 'series',
    help: 'patient: files downloaded from the signed-in pages start with the patient ID and study date (never on the phone page)',
  },
  { name: 'KEEP_INPUTS', default: 'false', help: 'keep input images after successful processing' },
  {
    name: 'OVERWRITE_INSTANCES',
    default: 'false',
    help: 'an instance sent again under its SOP Instance UID replaces the stored copy (default: the first copy stays)',
  },
  { name: 'RESULT_RETENTION_DAYS', default: '30', help: 'results are removed after this many days' },
  { name: 'MIN_FREE_DISK_MB', default: '1024', help: 'refuse new instances below this free space' },
  { name: 'MESH_REDUCTION', default: '0.9', help: 'fraction of triangles removed by decimation (0..0.99)' },
  { name: 'TLS_CERT', default: '', help: 'PEM certificate: serve HTTPS' },
  { name: 'TLS_KEY', default: '', help: 'PEM private key for TLS_CERT' },
  { name: 'LOG_LEVEL', default: 'info', help: LOG_LEVELS.join(' | ') },
  {
    name: 'PACS_NODES',
    default: '[]',
    help: 'JSON list of PACS nodes (name, dicomweb {url, auth}, dimse {host, port, aeTitle}, export rules)',
  },
];

function text(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !/^-?\d*\.?\d+(e-?\d+)?$/i.test(raw))
    throw new ConfigError(name, `expected a number, got "${raw}"`);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(name, `expected one of ${choices.join(', ')}, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return raw;
}

/** DICOM AE titles: 1-16 characters of the default repertoire, no backslash or control characters. */
function aeTitle(name: string, raw: string): string {
  if (!/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(raw) || raw.trim() === '') {
    throw new ConfigError(name, `"${raw}" is not a valid AE title (1-16 printable characters, no backslash)`);
  }
  return raw.trim();
}

/** Paths only: the files are read at start by readDimseTls (server/dimse/tlsFiles.ts), so this stays pure. */
function dimseTls(env: Env, dimsePort: number | undefined): DimseTlsPaths | undefined {
  const cert = text(env, 'DIMSE_TLS_CERT');
  const key = text(env, 'DIMSE_TLS_KEY');
  const ca = text(env, 'DIMSE_TLS_CA');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      cert === undefined ? 'DIMSE_TLS_CERT' : 'DIMSE_TLS_KEY',
      'DIMSE_TLS_CERT and DIMSE_TLS_KEY must be set together',
    );
  }
  if (cert === undefined || key === undefined) {
    if (ca !== undefined)
      throw new ConfigError(
        'DIMSE_TLS_CA',
        'needs DIMSE_TLS_CERT and DIMSE_TLS_KEY: client certificates are checked only on a TLS port',
      );
    return undefined;
  }
  // TLS settings without a DICOM port would be silently unused; a site that meant to require TLS should know.
  if (dimsePort === undefined)
    throw new ConfigError('DIMSE_TLS_CERT', 'is set but DIMSE_PORT is off: set DIMSE_PORT for the DICOM TLS port');
  return { cert, key, ca };
}

function pacsNodes(env: Env): PacsNode[] {
  try {
    return parsePacsNodes(env.PACS_NODES);
  } catch (e) {
    if (e instanceof PacsNodesError) throw new ConfigError('PACS_NODES', e.message);
    throw e;
  }
}

export function loadConfig(env: Env, cwd: string = process.cwd()): Readonly<Config> {
  const dataDirRaw = text(env, 'DATA_DIR') ?? './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);
  const tlsCert = text(env, 'TLS_CERT');
  const tlsKey = text(env, 'TLS_KEY');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new ConfigError(tlsCert === undefined ? 'TLS_CERT' : 'TLS_KEY', 'TLS_CERT and TLS_KEY must be set together');
  }
  const dimsePortRaw = text(env, 'DIMSE_PORT');
  const dimsePort =
    dimsePortRaw === undefined || dimsePortRaw === 'off' ? undefined : integer(env, 'DIMSE_PORT', 0, 1, 65535);
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host: text(env, 'HOST') ?? '0.0.0.0',
    dataDir,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    publicUrl: url(env, 'PUBLIC_URL', ['http:', 'https:'])?.replace(/\/+$/, ''),
    engine: oneOf(env, 'ENGINE', ENGINE_CHOICES, 'auto'),
    slicerPath: text(env, 'SLICER_PATH'),
    slicerTimeoutSeconds: integer(env, 'SLICER_TIMEOUT_SECONDS', 3600, 1, 7 * 24 * 3600),
    totalSegmentatorPath: text(env, 'TOTALSEGMENTATOR_PATH'),
    segmentationQuality: oneOf(env, 'SEGMENTATION_QUALITY', SEGMENTATION_QUALITIES, 'normal'),
    segmentationDevice: oneOf(env, 'SEGMENTATION_DEVICE', SEGMENTATION_DEVICES, 'gpu'),
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', 1, 0, 64),
    jobLeaseSeconds: integer(env, 'JOB_LEASE_SECONDS', 60, 2, 3600),
    seriesStableSeconds: integer(env, 'SERIES_STABLE_SECONDS', 10, 0, 86400),
    dimsePort,
    aeTitle: aeTitle('AE_TITLE', text(env, 'AE_TITLE') ?? 'ANATOMYGW'),
    dimseAllowedAets: (text(env, 'DIMSE_ALLOWED_AETS') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((s) => aeTitle('DIMSE_ALLOWED_AETS', s)),
    dimseTls: dimseTls(env, dimsePort),
    auth: boolean(env, 'AUTH', true),
    sessionTtlHours: integer(env, 'SESSION_TTL_HOURS', 12, 1, 24 * 30),
    loginMaxFailures: integer(env, 'LOGIN_MAX_FAILURES', 10, 1, 10_000),
    httpBodyTimeoutSeconds: integer(env, 'HTTP_BODY_TIMEOUT_SECONDS', 10, 1, 3600),
    httpIdleTimeoutSeconds: integer(env, 'HTTP_IDLE_TIMEOUT_SECONDS', 60, 1, 24 * 3600),
    httpMaxConnectionsPerAddress: integer(env, 'HTTP_MAX_CONNECTIONS_PER_ADDRESS', 256, 1, 1_000_000),
    downloadLinkTtlSeconds: integer(env, 'DOWNLOAD_LINK_TTL', 3600, 30, 30 * 24 * 3600),
    downloadNames: oneOf(env, 'DOWNLOAD_NAMES', DOWNLOAD_NAMES, 'series'),
    keepInputs: boolean(env, 'KEEP_INPUTS', false),
    overwriteInstances: boolean(env, 'OVERWRITE_INSTANCES', false),
    resultRetentionDays: integer(env, 'RESULT_RETENTION_DAYS', 30, 0, 36500),
    minFreeDiskMb: integer(env, 'MIN_FREE_DISK_MB', 1024, 0, 1 << 30),
    meshReduction: decimal(env, 'MESH_REDUCTION', 0.9, 0, 0.99),
    tlsCert,
    tlsKey,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    pacsNodes: pacsNodes(env),
  };
  return Object.freeze(config);
}

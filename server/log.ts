import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs (human-readable lines when `format.human`, for a terminal). Patient data (names, IDs, birth dates) must never be passed to a logger:
 * log UIDs, job ids and counts instead. The redact list is a second line of defence for
 * objects that carry DICOM-derived fields by mistake.
 */
export function createLogger(
  level: LevelWithSilent = 'info',
  destination?: NodeJS.WritableStream,
  format: { human?: boolean } = {},
): Logger {
  const options = {
    level,
    base: { service: 'anatomy-gateway' },
    redact: {
      paths: [
        'patientName',
        '*.patientName',
        'patientId',
        '*.patientId',
        'patientBirthDate',
        '*.patientBirthDate',
        'PatientName',
        '*.PatientName',
        'PatientID',
        '*.PatientID',
        'PatientBirthDate',
        '*.PatientBirthDate',
        'password',
        '*.password',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'headers.authorization',
        'headers.cookie',
      ],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (format.human) return pino(options, humanLines(destination ?? process.stdout));
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** One pino JSON record as a line a person reads: `12:04:31 info listening port=8080 database=pglite`. */
export function humanLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof record.time === 'string' ? new Date(record.time) : new Date();
  const clock = [time.getHours(), time.getMinutes(), time.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  const level = LEVELS[record.level as number] ?? String(record.level);
  const fields = Object.entries(record)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  return `${[clock, level, String(record.msg ?? ''), ...fields].filter(Boolean).join(' ')}\n`;
}

/** A pino destination that writes human-readable lines (for a terminal; files and pipes keep JSON). */
function humanLines(out: NodeJS.WritableStream): pino.DestinationStream {
  return { write: (line: string) => void out.write(humanLine(line)) };
}

/** A logger that drops everything: the default in tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs. Patient data (names, IDs, birth dates) must never be passed to a logger:
 * log UIDs, job ids and counts instead. The redact list is a second line of defence for
 * objects that carry DICOM-derived fields by mistake.
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
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
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}

/** A logger that drops everything: the default in tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError, type DimseTlsPaths } from '../config/config.ts';

/** PEM contents for the SCP's TLS listener (dcmjs-dimse's securityOptions). */
export interface DimseTlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Set: peers must present a certificate signed by one of these. */
  ca: Buffer | undefined;
}

type ReadFile = (path: string) => Buffer;

function read(setting: string, path: string, readFile: ReadFile): Buffer {
  try {
    return readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : (code ?? 'unreadable');
    throw new ConfigError(setting, `cannot read ${path} (${reason})`);
  }
}

/** The first line of an OpenSSL message, without its "error:0480006C:PEM routines::" prefix. */
function opensslReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].replace(/^error:[0-9A-F]+:[^:]*::?/, '');
}

/**
 * Reads and checks the DICOM TLS files once, at start, so that a wrong path, a file that is not PEM, a key
 * that does not belong to the certificate or an expired certificate stops the start with one line naming
 * the setting, instead of every scanner's association failing later with a bare handshake error.
 */
export function readDimseTls(
  paths: DimseTlsPaths,
  readFile: ReadFile = readFileSync,
  now: Date = new Date(),
): DimseTlsMaterial {
  return readTlsFiles('DIMSE_TLS', paths, readFile, now);
}

/** The same checks for any pair of settings `<prefix>_CERT` / `<prefix>_KEY` (/ `<prefix>_CA`); HTTPS uses `TLS`. */
export function readTlsFiles(
  prefix: string,
  paths: DimseTlsPaths,
  readFile: ReadFile = readFileSync,
  now: Date = new Date(),
): DimseTlsMaterial {
  const cert = read(`${prefix}_CERT`, paths.cert, readFile);
  const key = read(`${prefix}_KEY`, paths.key, readFile);
  const ca = paths.ca === undefined ? undefined : read(`${prefix}_CA`, paths.ca, readFile);

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`${prefix}_CERT`, `${paths.cert} is not a PEM certificate (${opensslReason(err)})`);
  }
  if (new Date(x509.validTo).getTime() < now.getTime()) {
    throw new ConfigError(
      `${prefix}_CERT`,
      `the certificate in ${paths.cert} expired on ${new Date(x509.validTo).toISOString()}`,
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(
      `${prefix}_KEY`,
      `${paths.key} is not the PEM private key of ${prefix}_CERT (${opensslReason(err)})`,
    );
  }
  if (ca !== undefined) {
    // createSecureContext skips CA text it cannot parse, which would leave every client certificate refused.
    const blocks = ca.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new ConfigError(`${prefix}_CA`, `${paths.ca} holds no PEM certificate`);
    for (const block of blocks) {
      try {
        new X509Certificate(block);
      } catch (err) {
        throw new ConfigError(
          `${prefix}_CA`,
          `${paths.ca} holds a certificate that cannot be read (${opensslReason(err)})`,
        );
      }
    }
  }
  return { cert, key, ca };
}

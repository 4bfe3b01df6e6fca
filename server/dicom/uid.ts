/**
 * DICOM UIDs (PS3.5 §9.1): 1-64 characters, dot-separated numeric components without leading zeros.
 * Validated UIDs are the only request-derived strings ever used in storage paths.
 */
const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

export function isValidUid(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 64 && UID_PATTERN.test(value);
}

/**
 * Lenient form for matching real-world data: some archives emit components with leading zeros, which
 * PS3.5 forbids but which are still unambiguous and path-safe.
 */
export function isUsableUid(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(value);
}

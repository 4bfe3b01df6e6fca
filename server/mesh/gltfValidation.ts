import { createRequire } from 'node:module';

/**
 * Typed wrapper over Khronos' glTF-Validator (npm `gltf-validator`, which ships no types).
 * Tests run every file we produce through it.
 */
export interface ValidationMessage {
  code: string;
  message: string;
  severity: number;
  pointer?: string;
}

export interface ValidationReport {
  issues: { numErrors: number; numWarnings: number; numInfos: number; messages: ValidationMessage[] };
  info?: { drawCallCount?: number; totalTriangleCount?: number; totalVertexCount?: number };
}

interface Validator {
  validateBytes(
    data: Uint8Array,
    options?: { uri?: string; format?: 'gltf' | 'glb'; maxIssues?: number },
  ): Promise<unknown>;
}

const validator = createRequire(import.meta.url)('gltf-validator') as Validator;

export async function validateGltf(data: Uint8Array, format: 'gltf' | 'glb'): Promise<ValidationReport> {
  const report = (await validator.validateBytes(data, {
    format,
    uri: `model.${format}`,
    maxIssues: 50,
  })) as ValidationReport;
  return report;
}

/** Error messages of a report, one line each, for an assertion message. */
export function errorLines(report: ValidationReport): string {
  return report.issues.messages
    .filter((m) => m.severity === 0)
    .map((m) => `${m.code} ${m.pointer ?? ''}: ${m.message}`)
    .join('\n');
}

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Tests that need something from outside the repo (real data, Postgres, DCMTK, Orthanc, Chromium)
 * skip with a visible notice where it is missing. Under CI=true a skip is a failure: CI installs
 * everything, so a missing piece there is a broken CI script, not a reason to go green.
 */
export function requireOrSkip(t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  const notice = `${what} is not available`;
  if (process.env.CI === 'true') {
    throw new Error(`${notice}; under CI=true every test must run`);
  }
  process.stderr.write(`\n  [skipped] ${t.name}: ${notice}\n`);
  t.skip(notice);
  return false;
}

/** Root of the shared real test data (TEST_DATA_DIR, default ../shared/data from the repo root). */
export const TEST_DATA_DIR = resolve(process.env.TEST_DATA_DIR ?? resolve(import.meta.dirname, '../../../shared/data'));

export function hasTestData(): boolean {
  return existsSync(TEST_DATA_DIR);
}

/** Path inside TEST_DATA_DIR. Call `requireTestData(t)` first. */
export function testDataPath(...parts: string[]): string {
  return resolve(TEST_DATA_DIR, ...parts);
}

export function requireTestData(t: TestContext): boolean {
  return requireOrSkip(t, hasTestData(), `real test data (TEST_DATA_DIR=${TEST_DATA_DIR})`);
}

/** Whether a program is on PATH. */
export function hasProgram(name: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':');
  return dirs.some((d) => d && existsSync(resolve(d, name)));
}

/** What DIMSE log lines carry about a status or an error: never data set content. */

export function hex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Error details for the log: name, code and message only (no data set content). */
export function safeError(error: unknown): { name?: string; code?: unknown; message: string } {
  if (error instanceof Error)
    return { name: error.name, code: (error as NodeJS.ErrnoException).code, message: error.message };
  return { message: String(error) };
}

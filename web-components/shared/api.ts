import type { LiveJob, QueueCounts } from '../../server/http/liveJobs.ts';
import type { ResultJson } from '../../server/http/resultsRoutes.ts';
import type { PublicBase } from '../../server/downloads/lanAddress.ts';
import type { CollectingSeries } from '../../server/series/collectingSeries.ts';
import type { QueuedNow } from '../../server/series/queueSeriesNow.ts';

// Shapes come straight from the server modules (type-only imports, erased by the bundler), so a
// change on one side is a compile error on the other.
export type { LiveJob, QueueCounts, ResultJson, PublicBase, CollectingSeries, QueuedNow };

export interface UploadResponse {
  accepted: Array<{
    file: string;
    seriesInstanceUid?: string;
    jobId?: string;
    seriesDescription?: string;
    volumeImage?: boolean;
    /** UIDs that were blank in an anonymised file and generated from its content. */
    generatedUids?: string[];
  }>;
  rejected: Array<{ file: string; reason: string }>;
}

export interface LinkFile {
  resultId: string;
  name: string;
  patientData: boolean;
}

/** POST /api/downloads (downloadsRoutes.ts). */
export interface DownloadLink {
  id: string;
  url: string;
  qrSvg: string;
  expiresAt: string;
  files: number;
  contents: LinkFile[];
  excluded: LinkFile[];
  address: PublicBase;
}

/** GET /api/downloads: active links (one's own; an admin's: everyone's). */
export interface ActiveLink {
  id: string;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string;
  files: LinkFile[];
  patientData: boolean;
  mine: boolean;
}

/** An error whose message is fit to show a user (the server's own explanation when it sent one). */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export async function errorFromResponse(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const text = await response.text();
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown };
      const m =
        typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : undefined;
      if (m) message = m;
    } catch {
      if (text && text.length < 300 && !text.trimStart().startsWith('<')) message = text;
    }
  } catch {
    // keep the status line
  }
  if (response.status === 401) message = 'Your session has ended. Reload the page and sign in again.';
  return new ApiError(response.status, message);
}

/**
 * The session's CSRF token, from the cookie the server sets at sign-in (readable by script on purpose).
 * Every request that changes something sends it in X-CSRF-Token; without it the server answers 403.
 */
export function csrfToken(): string {
  const m = /(?:^|;\s*)(?:__Host-)?ag_csrf=([^;]*)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : '';
}

export async function fetchJson<T>(url: string, init?: RequestInit): Promise<T> {
  let response: Response;
  const method = (init?.method ?? 'GET').toUpperCase();
  const csrf: Record<string, string> = method === 'GET' || method === 'HEAD' ? {} : { 'X-CSRF-Token': csrfToken() };
  try {
    response = await fetch(url, {
      credentials: 'same-origin',
      ...init,
      headers: { Accept: 'application/json', ...csrf, ...init?.headers },
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check the network connection.');
  }
  if (!response.ok) throw await errorFromResponse(response);
  // 204 (a delete, a sign-out) has no body.
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export function postJson<T>(url: string, body?: unknown): Promise<T> {
  return fetchJson<T>(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? '{}' : JSON.stringify(body),
  });
}

/** DELETE with the session's CSRF token; resolves when the server answered 2xx (204 has no body). */
export async function deleteRequest(url: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'DELETE',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRF-Token': csrfToken() },
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check the network connection.');
  }
  if (!response.ok) throw await errorFromResponse(response);
}

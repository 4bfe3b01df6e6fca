/** Display formatting shared by the pages. Pure functions: tested in node (format.test.ts). */

// The phone page is rendered by the server, so byte sizes are formatted there and here alike.
export { formatBytes } from '../../server/downloads/formatBytes.ts';

/** "4 s", "2 min 05 s", "1 h 03 min". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '–';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "in 59 min", "in 3 days", "expired". */
export function formatRelativeFuture(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return 'expired';
  const min = Math.round(ms / 60_000);
  if (min < 1) return 'in under a minute';
  if (min < 120) return `in ${min} min`;
  const h = Math.round(min / 60);
  if (h < 48) return `in ${h} h`;
  return `in ${Math.round(h / 24)} days`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

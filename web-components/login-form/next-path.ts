/**
 * Where to go after signing in: the `next` query parameter when it is a path on this server, else "/".
 * The server checks the same (POST /api/login returns the checked value); this keeps a stale or
 * hand-made link from ever sending someone off-site.
 */
export function nextPath(search: string): string {
  const raw = new URLSearchParams(search).get('next');
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\') || raw.startsWith('/login'))
    return '/';
  return raw;
}

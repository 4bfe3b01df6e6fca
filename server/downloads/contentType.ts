/** Content types of the files a result holds; anything unknown is served as opaque bytes. */
export function contentTypeOf(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith('.glb')) return 'model/gltf-binary';
  if (lower.endsWith('.gltf')) return 'model/gltf+json';
  if (lower.endsWith('.3mf')) return 'model/3mf';
  if (lower.endsWith('.json')) return 'application/json; charset=utf-8';
  if (lower.endsWith('.gz')) return 'application/gzip';
  if (lower.endsWith('.zip')) return 'application/zip';
  if (lower.endsWith('.stl')) return 'model/stl';
  if (lower.endsWith('.obj')) return 'model/obj';
  if (lower.endsWith('.txt') || lower.endsWith('.log')) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

/**
 * Content-Disposition for a download: a plain ASCII fallback plus the exact name in RFC 5987 form,
 * so names with spaces or accents survive and quotes cannot break out of the header.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** A job/result name people recognise ("CT_Abdomen_3mm-1a2b3c4d"), safe on every file system. */
export function safeBaseName(label: string | undefined, uniqueHint: string): string {
  const cleaned = (label ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, 60);
  const hint = uniqueHint.replace(/[^A-Za-z0-9]/g, '').slice(-8) || 'x';
  return `${cleaned || 'series'}-${hint}`;
}

/** A name safe for file names on every OS; never empty. */
export function safeFileName(name: string): string {
  const cleaned = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+|[._]+$/g, '')
    .slice(0, 80);
  return cleaned || 'series';
}

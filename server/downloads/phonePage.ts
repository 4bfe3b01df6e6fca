/**
 * The page a phone opens from the QR code. Rendered on the server as plain HTML with one
 * stylesheet and no script: it must work in any phone browser, offline from the internet, under a
 * strict CSP. Every value that reaches the markup goes through `escapeHtml`.
 */

import { formatBytes } from './formatBytes.ts';

export interface PhoneFile {
  name: string;
  size: number;
  /** Undefined when the file is gone (result removed since the link was made). */
  href: string | undefined;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function shell(title: string, stylesheet: string | undefined, body: string, icon?: string, script?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Anatomy Gateway</title>
${stylesheet ? `<link rel="stylesheet" href="${escapeHtml(stylesheet)}">` : ''}
${icon ? `<link rel="icon" type="image/svg+xml" href="${escapeHtml(icon)}">` : ''}
${script ? `<script src="${escapeHtml(script)}" defer></script>` : ''}
</head>
<body class="phone">
<header class="phone-header"><span class="brand">Anatomy Gateway</span></header>
<main class="phone-main">
${body}
</main>
</body>
</html>
`;
}

export function renderPhonePage(options: {
  files: PhoneFile[];
  zipHref: string;
  expiresAt: number;
  stylesheet: string | undefined;
  icon?: string;
  /** Rewrites times into the phone's own zone and clock (the page works without it, in the server's). */
  localTimeScript?: string;
}): string {
  const available = options.files.filter((f) => f.href !== undefined);
  const total = available.reduce((sum, f) => sum + f.size, 0);
  // The server's own clock and zone, until local-time.js puts it in the phone's (as the desktop pages show times).
  const expires = new Date(options.expiresAt).toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  });
  const items = options.files
    .map((f) =>
      f.href
        ? `<li><a class="file" href="${escapeHtml(f.href)}" download><span class="file-name">${escapeHtml(f.name)}</span><span class="file-size">${formatBytes(f.size)}</span></a></li>`
        : `<li><span class="file missing"><span class="file-name">${escapeHtml(f.name)}</span><span class="file-size">no longer available</span></span></li>`,
    )
    .join('\n');
  const zip =
    available.length > 0
      ? `<a class="button primary" href="${escapeHtml(options.zipHref)}" download>Download all (.zip, ${formatBytes(total)})</a>`
      : '<p class="notice">None of these files is still on the server.</p>';
  return shell(
    'Download models',
    options.stylesheet,
    `<h1>Your files</h1>
<p class="meta">${available.length} ${available.length === 1 ? 'file' : 'files'} · link valid until <time data-local datetime="${new Date(options.expiresAt).toISOString()}">${expires}</time></p>
${zip}
<ul class="files">
${items}
</ul>
<p class="hint">Files open in apps that read glTF (.glb, .gltf) or NIfTI (.nii.gz); 3D-printer slicers take the .3mf, or the STL files in the _stl.zip.</p>`,
    options.icon,
    options.localTimeScript,
  );
}

export function renderLinkProblem(options: {
  status: number;
  message: string;
  stylesheet: string | undefined;
  icon?: string;
}): string {
  const heading = options.status === 410 ? 'Link expired' : options.status === 403 ? 'Link not valid' : 'Not available';
  return shell(
    heading,
    options.stylesheet,
    `<h1>${escapeHtml(heading)}</h1>
<p class="notice">${escapeHtml(options.message)}</p>
<p class="hint">Ask for a new QR code on the Files page of Anatomy Gateway.</p>`,
    options.icon,
  );
}

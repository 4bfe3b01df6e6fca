import { createHash } from 'node:crypto';

/**
 * The OHIF build assumes it is served at "/": absolute "/…" asset paths in index.html,
 * `window.PUBLIC_URL="/"`, webpack's public path (`__webpack_require__.p = "/"`, from which lazily
 * loaded chunks and workers come) and `url(/…)` in its CSS. These rewrite them for a base path.
 */

export const WEBPACK_PUBLIC_PATH = '__webpack_require__.p = "/"';

export function rewriteIndexHtml(html: string, base: string): string {
  return html
    .replace(/(\s(?:href|src|content))="\/(?!\/)/g, `$1="${base}`)
    .replace(/window\.PUBLIC_URL="\/"/g, `window.PUBLIC_URL="${base}"`);
}

/** sha256 sources of the inline scripts of a page, for its content security policy. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const m of html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)) {
    hashes.push(`'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`);
  }
  return hashes;
}

export function rewriteScript(js: string, base: string): string {
  return js.split(WEBPACK_PUBLIC_PATH).join(`__webpack_require__.p = "${base}"`);
}

export function rewriteCss(css: string, base: string): string {
  return css.replace(/url\((["']?)\/(?!\/)/g, `url($1${base}`);
}

/**
 * The viewer's configuration: our own DICOMweb service on the same origin (so the session cookie
 * applies and no CORS is involved), routes under the base path, SEGs shown over their images.
 */
export function appConfig(base: string): string {
  const basename = base.replace(/\/$/, '');
  const config = {
    routerBasename: basename,
    extensions: [],
    modes: [],
    customizationService: {},
    showStudyList: true,
    maxNumberOfWebWorkers: 3,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: true,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    groupEnabledModesFirst: true,
    maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 25 },
    showErrorDetails: 'always',
    defaultDataSourceName: 'anatomy-gateway',
    dataSources: [
      {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'anatomy-gateway',
        configuration: {
          friendlyName: 'anatomy-gateway',
          name: 'anatomy-gateway',
          wadoUriRoot: '__ROOT__',
          qidoRoot: '__ROOT__',
          wadoRoot: '__ROOT__',
          qidoSupportsIncludeField: true,
          imageRendering: 'wadors',
          thumbnailRendering: 'wadors',
          enableStudyLazyLoad: true,
          supportsFuzzyMatching: false,
          supportsWildcard: true,
          staticWado: false,
          singlepart: 'bulkdata,video',
          bulkDataURI: { enabled: true, relativeResolution: 'studies' },
          omitQuotationForMultipartRequest: true,
        },
      },
    ],
  };
  return [
    '/* Written by anatomy-gateway when it serves the viewer: the data source is this server. */',
    "var __root = window.location.origin + '/dicomweb';",
    `window.config = ${JSON.stringify(config, null, 2).replace(/"__ROOT__"/g, '__root')};`,
    '',
  ].join('\n');
}

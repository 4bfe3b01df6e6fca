import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the OHIF viewer's prebuilt app is installed (scripts/install-viewer.ts) and whether it is
 * there. The version and the tarball's integrity are pinned: the viewer is served, never built.
 */
export const OHIF_APP = {
  name: '@ohif/app',
  version: '3.13.2',
  integrity: 'sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==',
} as const;

export function viewerInstallDir(): string {
  return join(import.meta.dirname, '..', '..', 'node_modules', '.viewer', `ohif-app-${OHIF_APP.version}`);
}

export interface ViewerStatus {
  available: boolean;
  version: string;
  /** Why the viewer cannot be served, when it cannot. */
  reason?: string;
}

/** The `dist/` folder to serve and whether it is complete. */
export function viewerStatus(dist: string = join(viewerInstallDir(), 'dist')): ViewerStatus & { dist: string } {
  const version = `${OHIF_APP.name}@${OHIF_APP.version}`;
  if (!existsSync(join(dist, 'index.html'))) {
    return {
      available: false,
      version,
      dist,
      reason: `its files are not installed (no index.html in the viewer folder); run \`npm run install-viewer\` with access to the npm registry`,
    };
  }
  return { available: true, version, dist };
}

import type { Role } from './roles.ts';

/**
 * The one place routes are mapped to what they need. First match wins; a path matches a prefix when it
 * equals it or continues with "/". Anything not listed needs `admin`, so a route added without a rule
 * is closed rather than open.
 *
 *   public         no credentials (health checks, the sign-in page, static assets, signed links)
 *   authenticated  any signed-in user or valid token
 *   <role>         a user or token holding that role (admin holds all)
 */
export type Access = 'public' | 'authenticated' | Role;

interface Rule {
  methods: readonly string[] | '*';
  path: string;
  exact?: boolean;
  access: Access;
}

const READ = ['GET', 'HEAD'] as const;

export const ACCESS_RULES: readonly Rule[] = [
  { methods: READ, path: '/healthz', access: 'public' },
  { methods: READ, path: '/login', access: 'public' },
  { methods: READ, path: '/assets', access: 'public' },
  // Download links (QR codes): the unguessable token is the credential; it expires and can be revoked.
  { methods: READ, path: '/d', access: 'public' },
  { methods: ['POST'], path: '/api/login', access: 'public' },
  // Whether the sign-in page points to the first account's password file.
  { methods: READ, path: '/api/login/hint', access: 'public' },
  // Works with or without a session (a stale page may sign out twice).
  { methods: ['POST'], path: '/api/logout', access: 'public' },
  { methods: READ, path: '/api/me', access: 'authenticated' },
  { methods: ['POST'], path: '/api/me/password', access: 'authenticated' },

  { methods: ['POST'], path: '/api/uploads', access: 'ingest' },
  { methods: ['POST'], path: '/dicomweb', access: 'ingest' },
  { methods: READ, path: '/dicomweb', access: 'read' },
  // Whoever may put work in the queue may cancel or retry it.
  { methods: ['POST'], path: '/api/jobs', access: 'ingest' },
  { methods: READ, path: '/api/jobs', access: 'read' },
  { methods: READ, path: '/api/results', access: 'read' },
  // Making download links, and listing and revoking one's own (admins: everyone's; checked in the route).
  { methods: ['POST', 'GET', 'HEAD', 'DELETE'], path: '/api/downloads', access: 'read' },
  { methods: READ, path: '/api/events', access: 'read' },
  // PACS: searching shows what the node holds; retrieving and sending a SEG put work in the queue.
  { methods: READ, path: '/api/pacs', access: 'read' },
  { methods: ['POST'], path: '/api/pacs/nodes', access: 'ingest' },
  { methods: ['POST'], path: '/api/results', access: 'ingest' },
  // Deleting a result removes what others may still need: the same role as cancelling work.
  { methods: ['DELETE'], path: '/api/results', access: 'ingest' },

  { methods: '*', path: '/api/users', access: 'admin' },
  { methods: '*', path: '/api/tokens', access: 'admin' },
  { methods: '*', path: '/api/audit', access: 'admin' },

  // The pages themselves; what they show is then limited by the API routes above.
  { methods: READ, path: '/', exact: true, access: 'authenticated' },
  { methods: READ, path: '/upload', access: 'authenticated' },
  { methods: READ, path: '/files', access: 'authenticated' },
  { methods: READ, path: '/pacs', access: 'authenticated' },
  // The OHIF viewer shows images: the same role as WADO-RS, which it then calls.
  { methods: READ, path: '/viewer', access: 'read' },
  { methods: READ, path: '/admin', access: 'admin' },
];

export function requiredAccess(method: string, path: string): Access {
  return matchAccessRule(method, path).access;
}

/** The access and the rule's path (not the request's, which may hold a file name chosen by an uploader). */
export function matchAccessRule(method: string, path: string): { access: Access; rulePath: string } {
  const m = method.toUpperCase();
  for (const rule of ACCESS_RULES) {
    if (rule.methods !== '*' && !rule.methods.includes(m)) continue;
    const matches = rule.exact ? path === rule.path : path === rule.path || path.startsWith(`${rule.path}/`);
    if (matches) return { access: rule.access, rulePath: rule.path };
  }
  return { access: 'admin', rulePath: '(unlisted)' };
}

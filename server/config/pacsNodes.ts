/**
 * PACS nodes we search, retrieve from and send results to, from the PACS_NODES setting: a JSON list.
 *
 *   [{"name": "main", "dicomweb": {"url": "https://pacs/dicom-web", "auth": {"bearer": "..."}},
 *     "dimse": {"host": "10.0.0.5", "port": 104, "aeTitle": "PACS", "retrieve": "get"},
 *     "export": {"retrieved": true, "callingAets": ["CT_SCANNER"]}}]
 *
 * A node speaks DICOMweb, DIMSE or both. `export` is the automatic export rule: send the SEG of every
 * result whose series was retrieved from this node (`retrieved`) or pushed to us over DIMSE by one of
 * `callingAets`. Credentials stay in this object: `publicNode` is the only shape that leaves the server.
 */

export type PacsAuth = { bearer: string } | { username: string; password: string };

export interface PacsNode {
  name: string;
  dicomweb?: { url: string; auth?: PacsAuth };
  /** `retrieve`: C-GET (the default; the node sends on our own association) or C-MOVE (the node
   *  connects back to our SCP on DIMSE_PORT, so it must know AE_TITLE, our host and port). */
  dimse?: { host: string; port: number; aeTitle: string; retrieve: 'get' | 'move' };
  export: { retrieved: boolean; callingAets: string[] };
}

/** Thrown with a message naming the node and field; config.ts wraps it into a ConfigError. */
export class PacsNodesError extends Error {}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const AE = /^[\x20-\x5b\x5d-\x7e]{1,16}$/;

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PacsNodesError(`${where} must be an object`);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new PacsNodesError(`${where} must be a non-empty string`);
  return v.trim();
}

function unknownKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0)
    throw new PacsNodesError(
      `${where} has unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} (allowed: ${allowed.join(', ')})`,
    );
}

function aeTitle(v: unknown, where: string): string {
  const s = str(v, where);
  if (!AE.test(s))
    throw new PacsNodesError(`${where} "${s}" is not a valid AE title (1-16 printable characters, no backslash)`);
  return s;
}

function parseAuth(v: unknown, where: string): PacsAuth {
  const a = obj(v, where);
  unknownKeys(a, ['bearer', 'username', 'password'], where);
  if (a.bearer !== undefined) {
    if (a.username !== undefined || a.password !== undefined)
      throw new PacsNodesError(`${where}: give either "bearer" or "username"/"password", not both`);
    return { bearer: str(a.bearer, `${where}.bearer`) };
  }
  const username = str(a.username, `${where}.username`);
  if (username.includes(':')) throw new PacsNodesError(`${where}.username must not contain ":" (HTTP Basic)`);
  if (typeof a.password !== 'string') throw new PacsNodesError(`${where}.password must be a string`);
  return { username, password: a.password };
}

function parseNode(v: unknown, i: number): PacsNode {
  const where = `node ${i + 1}`;
  const n = obj(v, where);
  unknownKeys(n, ['name', 'dicomweb', 'dimse', 'export'], where);
  const name = str(n.name, `${where}.name`);
  if (!NAME.test(name))
    throw new PacsNodesError(
      `${where}.name "${name}" may use letters, digits, ".", "_" and "-" (up to 64, starting with a letter or digit)`,
    );
  const at = `node "${name}"`;
  const node: PacsNode = { name, export: { retrieved: false, callingAets: [] } };
  if (n.dicomweb !== undefined) {
    const d = obj(n.dicomweb, `${at}.dicomweb`);
    unknownKeys(d, ['url', 'auth'], `${at}.dicomweb`);
    const raw = str(d.url, `${at}.dicomweb.url`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new PacsNodesError(`${at}.dicomweb.url is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new PacsNodesError(`${at}.dicomweb.url must start with http:// or https://`);
    if (url.username || url.password)
      throw new PacsNodesError(`${at}.dicomweb.url must not carry credentials; put them in "auth"`);
    node.dicomweb = { url: raw.replace(/\/+$/, '') };
    if (d.auth !== undefined) node.dicomweb.auth = parseAuth(d.auth, `${at}.dicomweb.auth`);
  }
  if (n.dimse !== undefined) {
    const d = obj(n.dimse, `${at}.dimse`);
    unknownKeys(d, ['host', 'port', 'aeTitle', 'retrieve'], `${at}.dimse`);
    const port = d.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new PacsNodesError(`${at}.dimse.port must be a whole number 1-65535`);
    if (d.retrieve !== undefined && d.retrieve !== 'get' && d.retrieve !== 'move')
      throw new PacsNodesError(`${at}.dimse.retrieve must be "get" (C-GET) or "move" (C-MOVE)`);
    node.dimse = {
      host: str(d.host, `${at}.dimse.host`),
      port,
      aeTitle: aeTitle(d.aeTitle, `${at}.dimse.aeTitle`),
      retrieve: d.retrieve === 'move' ? 'move' : 'get',
    };
  }
  if (!node.dicomweb && !node.dimse) throw new PacsNodesError(`${at} needs "dicomweb" or "dimse" (or both)`);
  if (n.export !== undefined) {
    const e = obj(n.export, `${at}.export`);
    unknownKeys(e, ['retrieved', 'callingAets'], `${at}.export`);
    if (e.retrieved !== undefined && typeof e.retrieved !== 'boolean')
      throw new PacsNodesError(`${at}.export.retrieved must be true or false`);
    if (e.callingAets !== undefined && !Array.isArray(e.callingAets))
      throw new PacsNodesError(`${at}.export.callingAets must be a list of AE titles`);
    node.export = {
      retrieved: e.retrieved === true,
      callingAets: ((e.callingAets as unknown[] | undefined) ?? []).map((a, j) =>
        aeTitle(a, `${at}.export.callingAets[${j}]`),
      ),
    };
  }
  return node;
}

/** Parses the PACS_NODES JSON. Error messages never echo credential values. */
export function parsePacsNodes(raw: string | undefined): PacsNode[] {
  if (raw === undefined || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    // JSON.parse messages quote the text around the error, which may be a password.
    const pos = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new PacsNodesError(`is not valid JSON${pos ? ` (at character ${pos})` : ''}`);
  }
  if (!Array.isArray(parsed)) throw new PacsNodesError('must be a JSON list of nodes');
  const nodes = parsed.map(parseNode);
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.name.toLowerCase())) throw new PacsNodesError(`two nodes are named "${n.name}"`);
    seen.add(n.name.toLowerCase());
  }
  return nodes;
}

/** What the API shows of a node: never its credentials, only whether it has some. */
export function publicNode(n: PacsNode) {
  return {
    name: n.name,
    dicomweb: n.dicomweb
      ? { url: n.dicomweb.url, auth: n.dicomweb.auth ? ('bearer' in n.dicomweb.auth ? 'bearer' : 'basic') : 'none' }
      : null,
    dimse: n.dimse
      ? { host: n.dimse.host, port: n.dimse.port, aeTitle: n.dimse.aeTitle, retrieve: n.dimse.retrieve }
      : null,
    export: n.export,
    canSearch: Boolean(n.dicomweb || n.dimse),
    canRetrieve: Boolean(n.dicomweb || n.dimse),
    canStore: Boolean(n.dicomweb || n.dimse),
  };
}

export type PublicPacsNode = ReturnType<typeof publicNode>;

export function findNode(nodes: readonly PacsNode[], name: string): PacsNode | undefined {
  return nodes.find((n) => n.name === name) ?? nodes.find((n) => n.name.toLowerCase() === name.toLowerCase());
}

import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** The address that goes into QR codes, and how it was chosen (shown to the user). */
export interface PublicBase {
  /** e.g. "http://192.168.1.20:8080", no trailing slash. */
  url: string;
  source: 'public-url' | 'lan' | 'none';
  /** Set when a phone on the LAN will probably not reach `url`. */
  warning?: string;
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Private ranges first: a hospital LAN uses them, and a public address is usually a VPN or uplink. */
function rank(address: string): number {
  if (address.startsWith('192.168.')) return 0;
  if (address.startsWith('10.')) return 1;
  if (/^172\.(1[6-9]|2\d|3[01])\./.test(address)) return 2;
  return 3;
}

function usable(address: string): boolean {
  return !address.startsWith('127.') && !address.startsWith('169.254.') && address !== '0.0.0.0';
}

/** Names of virtual interfaces (containers, VMs) whose addresses no phone can reach. */
const VIRTUAL = /^(docker|br-|veth|virbr|vmnet|vboxnet|cni|flannel|podman|lxc|lxdbr|tailscale|zt)/;

export function lanIPv4(interfaces: Interfaces = networkInterfaces()): string | undefined {
  const candidates: Array<{ address: string; virtual: boolean }> = [];
  for (const [name, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      if (info.family !== 'IPv4' || info.internal || !usable(info.address)) continue;
      candidates.push({ address: info.address, virtual: VIRTUAL.test(name) });
    }
  }
  candidates.sort((a, b) => Number(a.virtual) - Number(b.virtual) || rank(a.address) - rank(b.address));
  return candidates[0]?.address;
}

/**
 * PUBLIC_URL wins when set (a reverse proxy, a DNS name, HTTPS). Otherwise the first LAN IPv4
 * address with the listening port; never loopback or link-local, which a phone cannot reach.
 */
export function publicBase(
  options: { publicUrl: string | undefined; port: number; protocol?: 'http' | 'https' },
  interfaces?: Interfaces,
): PublicBase {
  if (options.publicUrl) return { url: options.publicUrl.replace(/\/+$/, ''), source: 'public-url' };
  const protocol = options.protocol ?? 'http';
  const address = lanIPv4(interfaces);
  if (address) return { url: `${protocol}://${address}:${options.port}`, source: 'lan' };
  return {
    url: `${protocol}://localhost:${options.port}`,
    source: 'none',
    warning:
      'This machine has no network address a phone can reach, so the QR code only works on this computer. ' +
      'Connect it to the network or set PUBLIC_URL.',
  };
}

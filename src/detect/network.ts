/**
 * The network an address belongs to, as a key: `198.51.100.0/24`, `2001:db8:1::/48` (prefix lengths
 * from the config; /24 and /48 are the usual smallest units announced and assigned to one site).
 * IPv4-mapped IPv6 addresses (`::ffff:198.51.100.7`) count as IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net';

const V4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function v4Bytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** The 8 groups of an IPv6 address, or null. */
function v6Groups(ip: string): number[] | null {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    // An embedded IPv4 tail (`::ffff:198.51.100.7`) written as two groups.
    const b = v4Bytes(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h.map((g) => parseInt(g, 16)), ...new Array<number>(Math.max(0, fill)).fill(0), ...t.map((g) => parseInt(g, 16))];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

/**
 * The /24 of a dotted-quad IPv4 address as a number (its first three octets), or -1 when `ip` is
 * not one: a Map key that needs no string built or hashed per login (bench/ingest.ts).
 */
export function v4Slash24(ip: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      if (dots <= 3) value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? value : -1;
}

/** `ip` cut to its network (`/v4Prefix` or `/v6Prefix`), as text; null when `ip` is not an IP address. */
export function networkOf(ip: string, v4Prefix = 24, v6Prefix = 48, validated = false): string | null {
  if (v4Prefix === 24 && ip.indexOf(':') === -1 && (validated || V4_RE.test(ip))) {
    // The common case, cut as text (bench/ingest.ts). `validated`: the normalizer's src_endpoint.ip
    // passed node:net's isIP, which refuses leading zeros, so the text is canonical.
    const dot = ip.lastIndexOf('.');
    return dot > 0 ? `${ip.slice(0, dot)}.0/24` : null;
  }
  if (isIPv4(ip)) return v4Network(v4Bytes(ip), v4Prefix);
  if (!isIPv6(ip)) return null;
  const g = v6Groups(ip);
  if (g === null) return null;
  // ::ffff:a.b.c.d
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return v4Network([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255], v4Prefix);
  }
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const bits = Math.max(0, Math.min(16, v6Prefix - i * 16));
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    out.push(((g[i]! & mask) >>> 0).toString(16));
  }
  // Shorten the zero groups after the prefix to `::`.
  let last = 7;
  while (last >= 0 && out[last] === '0') last--;
  const text = last === 7 ? out.join(':') : `${out.slice(0, last + 1).join(':')}::`;
  return `${text}/${v6Prefix}`;
}

function v4Network(b: number[], prefix: number): string {
  const n = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const m = (n & mask) >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}/${prefix}`;
}

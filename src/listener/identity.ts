import type { PeerCertificate } from 'node:tls';

/** Who sent a frame: the x509 identity proven in the TLS handshake, and where it connected from. */
export interface PeerIdentity {
  /** Subject common name of the client certificate. */
  readonly cn: string | null;
  /** Subject alternative names, as `DNS:name` / `IP:addr` / `URI:...` strings. */
  readonly sans: readonly string[];
  /** Full subject DN, RFC 4514 style (`CN=client,O=Example`). */
  readonly subject: string;
  /** SHA-256 fingerprint of the certificate, colon-free lowercase hex. */
  readonly fingerprint: string;
  /** Remote address and port, `ip:port` (IPv6 in brackets). */
  readonly address: string;
  /** How the frames arrive (ledger_connections.transport); absent means `tls`. */
  readonly transport?: 'tls' | 'relp';
}

/** Reads the identity fields out of a verified peer certificate. */
export function identityOf(cert: PeerCertificate, remoteAddress: string | undefined, remotePort: number | undefined): PeerIdentity {
  const subject = cert.subject ?? {};
  const cnRaw = (subject as unknown as Record<string, string | string[] | undefined>).CN;
  const cn = Array.isArray(cnRaw) ? (cnRaw[0] ?? null) : (cnRaw ?? null);
  return {
    cn,
    sans: parseSubjectAltName(cert.subjectaltname),
    subject: Object.entries(subject)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .reverse()
      .join(','),
    fingerprint: (cert.fingerprint256 ?? '').replaceAll(':', '').toLowerCase(),
    address: formatAddress(remoteAddress, remotePort),
  };
}

/** Splits Node's `subjectaltname` string (`DNS:a, IP Address:1.2.3.4`) into normalized entries. */
export function parseSubjectAltName(san: string | undefined): string[] {
  if (!san) return [];
  return san.split(', ').map((entry) => entry.replace(/^IP Address:/, 'IP:'));
}

export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (!address) return '';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}

/** Names a peer can be matched by in allowlists and host bindings: the CN, then every DNS/IP SAN. */
export function peerNames(peer: PeerIdentity): string[] {
  const names: string[] = [];
  if (peer.cn) names.push(peer.cn);
  for (const san of peer.sans) {
    const i = san.indexOf(':');
    if (i > 0) names.push(san.slice(i + 1));
  }
  return names;
}

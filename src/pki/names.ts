/**
 * The names a certificate holds, as a client's name check sees them. rsyslog's
 * `StreamDriverAuthMode="x509/name"` compares its `target` (or `StreamDriverPermittedPeers`) with the
 * DNS SANs (else the CN) only: an IP address SAN never matches there.
 */
import { X509Certificate } from 'node:crypto';

export interface CertificateNames {
  readonly dns: string[];
  readonly ip: string[];
}

export function certificateNames(pem: Buffer | string): CertificateNames {
  try {
    const x = new X509Certificate(pem);
    const sans = (x.subjectAltName ?? '').split(', ').filter(Boolean);
    const dns = sans.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    const ip = sans.filter((n) => n.startsWith('IP Address:')).map((n) => n.slice('IP Address:'.length));
    if (dns.length === 0) {
      const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
      if (cn) dns.push(cn);
    }
    return { dns, ip };
  } catch {
    return { dns: [], ip: [] };
  }
}

/** For each name of a server certificate, the client settings that will pass the name check. */
export function clientNameSettings(names: CertificateNames): string {
  const width = Math.max(0, ...[...names.dns, ...names.ip].map((n) => n.length));
  const lines = ['Names in the server certificate, and the client settings that match them (rsyslog x509/name checks DNS names only):'];
  for (const n of names.dns) {
    lines.push(`  ${n.padEnd(width)}  rsyslog: target="${n}" (or, with another target, StreamDriverPermittedPeers="${n}"); syslog-ng: syslog("${n}" ...)`);
  }
  for (const n of names.ip) {
    lines.push(`  ${n.padEnd(width)}  IP address: rsyslog's x509/name ignores it (target="${n}" is refused); syslog-ng and openssl accept it`);
  }
  return `${lines.join('\n')}\n`;
}

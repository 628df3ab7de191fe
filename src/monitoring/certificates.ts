import { X509Certificate } from 'node:crypto';
import type { Metrics } from '../metrics/registry.js';
import { MalformedDataError } from '../errors.js';

/** The certificates whose expiry is exported (`cert` label of `syslog_ledger_tls_certificate_expiry_timestamp_seconds`). */
export const EXPIRING_CERTS = ['server', 'ca'] as const;
export type ExpiringCert = (typeof EXPIRING_CERTS)[number];

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The earliest expiry (notAfter) of the certificates in a PEM text, ms since the epoch.
 * A CA file may be a bundle; the first certificate to expire is the one that breaks handshakes.
 * Throws when the text holds no certificate.
 */
export function earliestExpiryMs(pem: string | Buffer): number {
  const blocks = pem.toString('latin1').match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new MalformedDataError('no PEM certificate found');
  let earliest = Infinity;
  for (const block of blocks) {
    const notAfter = Date.parse(new X509Certificate(block).validTo);
    if (Number.isNaN(notAfter)) throw new MalformedDataError('certificate has an unreadable notAfter');
    earliest = Math.min(earliest, notAfter);
  }
  return earliest;
}

/**
 * Sets the expiry gauge for the server certificate or the CA (bundle). Call at start and after
 * every certificate reload, with the same PEM the TLS context was built from.
 */
export function observeCertificateExpiry(metrics: Metrics, cert: ExpiringCert, pem: string | Buffer): number {
  const expiresMs = earliestExpiryMs(pem);
  metrics.certificateExpiry.set({ cert }, expiresMs / 1000);
  return expiresMs;
}

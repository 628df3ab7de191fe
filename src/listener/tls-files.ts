import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { TlsConfigError } from '../errors.js';

/** Paths of the server's TLS material. */
export interface TlsPaths {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly crl?: string | undefined;
}

/** The material itself, read and checked, ready for tls.createSecureContext. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly crl?: Buffer | undefined;
  /** Expiry of the server and CA certificates (seconds since the epoch), for metrics. */
  readonly serverNotAfter: number;
  readonly caNotAfter: number;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsConfigError(path, `cannot read the ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and sanity-checks the files; a broken file is refused with a message naming it. */
export function loadTlsMaterial(p: TlsPaths): TlsMaterial {
  const cert = read(p.cert, 'server certificate');
  const key = read(p.key, 'server key');
  const ca = read(p.ca, 'CA certificate');
  const crl = p.crl ? read(p.crl, 'CRL') : undefined;
  let server: X509Certificate;
  let caCert: X509Certificate;
  try {
    server = new X509Certificate(cert);
  } catch (err) {
    throw new TlsConfigError(p.cert, 'not a PEM certificate', { cause: err });
  }
  try {
    caCert = new X509Certificate(ca);
  } catch (err) {
    throw new TlsConfigError(p.ca, 'not a PEM certificate', { cause: err });
  }
  if (crl && !crl.toString('latin1').includes('-----BEGIN X509 CRL-----')) throw new TlsConfigError(p.crl!, 'not a PEM CRL');
  return {
    cert,
    key,
    ca,
    crl,
    serverNotAfter: Date.parse(server.validTo) / 1000,
    caNotAfter: Date.parse(caCert.validTo) / 1000,
  };
}

/**
 * The server's TLS material, read and checked before use: at start, and on every SIGHUP reload,
 * where a broken file must be refused (the old configuration stays) rather than taken into use.
 * Each check names the file and says what is wrong with it, because OpenSSL's own errors do not
 * (a CRL from another CA, say, is accepted by OpenSSL and then refuses every client).
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import tls from 'node:tls';
import '../pki/reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { TlsConfigError } from '../errors.js';

x509.cryptoProvider.set(webcrypto);

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
  /** Serial of the server certificate (hex, as OpenSSL prints it), for the reload log. */
  readonly serverSerial?: string;
  /** Certificates the CRL revokes, and when it must be replaced (seconds since the epoch). */
  readonly crlEntries?: number;
  readonly crlNextUpdate?: number;
  /** What each CRL revokes, to re-check connections already open when a reload brings a new CRL. */
  readonly revocations?: readonly Revocations[];
}

/** The serials one CRL revokes (lowercase hex, no leading zeros), and the CA that signed it. */
export interface Revocations {
  readonly issuer: X509Certificate;
  readonly serials: ReadonlySet<string>;
}

function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** Does one of the material's CRLs revoke this (already verified) client certificate? */
export function isRevoked(m: TlsMaterial, cert: X509Certificate): boolean {
  const serial = normalizeSerial(cert.serialNumber);
  return (m.revocations ?? []).some((r) => r.serials.has(serial) && cert.checkIssued(r.issuer));
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsConfigError(path, `cannot read the ${what}: ${(err as Error).message}`, { cause: err });
  }
}

function pemBlocks(pem: Buffer, label: string): string[] {
  return pem.toString('latin1').match(new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g')) ?? [];
}

/** Reads and checks the files; a broken file is refused with a message naming it. */
export async function loadTlsMaterial(p: TlsPaths, now = Date.now()): Promise<TlsMaterial> {
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
  let keyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch (err) {
    throw new TlsConfigError(p.key, 'not a readable (unencrypted PEM) private key', { cause: err });
  }
  if (!server.checkPrivateKey(keyObject)) throw new TlsConfigError(p.key, `does not match the server certificate ${p.cert}`);
  if (Date.parse(server.validTo) <= now) throw new TlsConfigError(p.cert, `expired on ${server.validTo}: clients would refuse it`);

  let crlEntries: number | undefined;
  let crlNextUpdate: number | undefined;
  const revocations: Revocations[] = [];
  if (crl) {
    const blocks = pemBlocks(crl, 'X509 CRL');
    if (blocks.length === 0) throw new TlsConfigError(p.crl!, 'not a PEM CRL (no "-----BEGIN X509 CRL-----" block)');
    const cas = pemBlocks(ca, 'CERTIFICATE').map((b) => new x509.X509Certificate(b));
    crlEntries = 0;
    for (const block of blocks) {
      let parsed: x509.X509Crl;
      try {
        parsed = new x509.X509Crl(block);
      } catch (err) {
        throw new TlsConfigError(p.crl!, 'not a PEM CRL', { cause: err });
      }
      // OpenSSL checks a client against the CRL of its issuer; a CRL no CA here signed leaves every
      // client without one (UNABLE_TO_GET_CRL), and an expired one refuses them all (CRL_HAS_EXPIRED).
      let signer: x509.X509Certificate | undefined;
      for (const c of cas) {
        if (!signer && c.subject === parsed.issuer && (await parsed.verify({ publicKey: c.publicKey }).catch(() => false))) signer = c;
      }
      if (!signer) throw new TlsConfigError(p.crl!, `not signed by the CA in ${p.ca} (issuer ${parsed.issuer}): every client would be refused`);
      if (parsed.nextUpdate && parsed.nextUpdate.getTime() <= now) {
        throw new TlsConfigError(p.crl!, `expired (nextUpdate ${parsed.nextUpdate.toISOString()}): every client would be refused; publish a fresh CRL`);
      }
      crlEntries += parsed.entries.length;
      revocations.push({ issuer: new X509Certificate(signer.toString('pem')), serials: new Set(parsed.entries.map((e) => normalizeSerial(e.serialNumber))) });
      const next = parsed.nextUpdate ? parsed.nextUpdate.getTime() / 1000 : undefined;
      if (next !== undefined) crlNextUpdate = crlNextUpdate === undefined ? next : Math.min(crlNextUpdate, next);
    }
  }
  // Last, what OpenSSL itself says about the set.
  try {
    tls.createSecureContext({ cert, key, ca, ...(crl ? { crl } : {}) });
  } catch (err) {
    throw new TlsConfigError(p.cert, `OpenSSL refused the certificate, key, CA or CRL: ${(err as Error).message}`, { cause: err });
  }
  return {
    cert,
    key,
    ca,
    crl,
    serverNotAfter: Date.parse(server.validTo) / 1000,
    caNotAfter: Date.parse(caCert.validTo) / 1000,
    serverSerial: server.serialNumber,
    ...(crlEntries !== undefined ? { crlEntries } : {}),
    ...(crlNextUpdate !== undefined ? { crlNextUpdate } : {}),
    ...(crl ? { revocations } : {}),
  };
}

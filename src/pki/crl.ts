/**
 * Certificate revocation lists (RFC 5280 section 5) for the dev CA: v2, signed by the CA, with
 * authorityKeyIdentifier and a cRLNumber that grows with every CRL written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { BACKDATE_MS, DAY_MS, loadCa, PkiError, PKI_FILES, unique, writePublic } from './keys.js';

/** Validity of a CRL written by `revoke`, in days, unless `days` says otherwise. */
const DEFAULT_CRL_DAYS = 365;

/**
 * Writes `crl.pem` in `dir`, signed by its CA, listing `serials` (hex, any case, colons
 * allowed) together with the serials the existing `crl.pem` already revokes.
 * Returns the CRL's path.
 */
export async function revoke(opts: { dir: string; serials: readonly string[]; days?: number }): Promise<string> {
  const previous = await readCrlSerials(join(opts.dir, PKI_FILES.crl));
  const serials = unique([...previous, ...opts.serials.map(normalizeSerial)]);
  return writeCrl(opts.dir, serials, new Date(Date.now() + (opts.days ?? DEFAULT_CRL_DAYS) * DAY_MS));
}

/** Normalizes a serial number: lowercase hex, no colons, no leading zero bytes beyond one. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replaceAll(':', '').trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new PkiError('serial', `not a hexadecimal serial number: ${serial}`);
  return hex.replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

/** Writes `crl.pem` in `dir` listing `serials`, valid until `nextUpdate`. */
export async function writeCrl(dir: string, serials: readonly string[], nextUpdate: Date): Promise<string> {
  const ca = await loadCa(dir);
  const crlPath = join(dir, PKI_FILES.crl);
  const number = (await readCrlNumber(crlPath)) + 1;
  const caSki = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const now = new Date();
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subject,
    thisUpdate: new Date(now.getTime() - BACKDATE_MS),
    nextUpdate,
    signingKey: ca.key,
    signingAlgorithm: ca.signingAlgorithm,
    entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: now, reason: x509.X509CrlReason.unspecified })),
    extensions: [
      ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false)] : []),
      new x509.Extension(OID_CRL_NUMBER, false, derInteger(number)),
    ],
  });
  // RFC 7468 section 5 label; @peculiar/x509 writes "CRL", which OpenSSL (Node's `crl` option) rejects.
  await writePublic(crlPath, x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n');
  return crlPath;
}

const OID_CRL_NUMBER = '2.5.29.20';

async function readCrl(path: string): Promise<x509.X509Crl | null> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PkiError(path, 'cannot read the CRL', { cause: err });
  }
  try {
    return new x509.X509Crl(pem);
  } catch (err) {
    throw new PkiError(path, 'not a PEM CRL', { cause: err });
  }
}

async function readCrlSerials(path: string): Promise<string[]> {
  const crl = await readCrl(path);
  return crl ? crl.entries.map((e) => normalizeSerial(e.serialNumber)) : [];
}

async function readCrlNumber(path: string): Promise<number> {
  const crl = await readCrl(path);
  const ext = crl?.extensions.find((e) => e.type === OID_CRL_NUMBER);
  if (!ext) return 0;
  const der = new Uint8Array(ext.value);
  // INTEGER: tag 0x02, short length, big-endian value; dev CRL numbers stay far below 2^48.
  if (der[0] !== 0x02 || der.length < 3) return 0;
  let n = 0;
  for (const b of der.subarray(2, 2 + der[1]!)) n = n * 256 + b;
  return n;
}

/** DER INTEGER of a non-negative safe integer. */
function derInteger(n: number): Uint8Array {
  const bytes: number[] = [];
  let v = n;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return Uint8Array.from([0x02, bytes.length, ...bytes]);
}

/**
 * Internals shared by the dev PKI modules: the key algorithm, loading a CA, key generation and
 * export, serial numbers, and file writing (atomic, keys 0600).
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { access, chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { TlsConfigError as PkiError } from '../errors.js';

export { PkiError };
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type Algorithm = webcrypto.Algorithm;
export type EcdsaParams = webcrypto.EcdsaParams;

x509.cryptoProvider.set(webcrypto);

/** File names inside a PKI folder. */
export const PKI_FILES = {
  ca: 'ca.pem',
  caKey: 'ca-key.pem',
  server: 'server.pem',
  serverKey: 'server-key.pem',
  client: 'client.pem',
  clientKey: 'client-key.pem',
  crl: 'crl.pem',
} as const;

export const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const EC_SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const DAY_MS = 86_400_000;
/** Certificates start a little in the past so that a client whose clock is behind still accepts them. */
export const BACKDATE_MS = 5 * 60_000;

/** A CA able to sign: its certificate, private key and signature algorithm. */
export interface Ca {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly signingAlgorithm: Algorithm | EcdsaParams;
}

/** Loads `ca.pem` and `ca-key.pem` from `dir`. */
export async function loadCa(dir: string): Promise<Ca> {
  const certPath = join(dir, PKI_FILES.ca);
  const keyPath = join(dir, PKI_FILES.caKey);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(certPath, 'utf8');
    keyPem = await readFile(keyPath, 'utf8');
  } catch (err) {
    throw new PkiError(dir, `no CA here (need ${PKI_FILES.ca} and ${PKI_FILES.caKey}); create one with "syslog-ledger certs --out ${dir}"`, { cause: err });
  }
  const cert = new x509.X509Certificate(certPem);
  return { cert, ...(await importPrivateKey(keyPem, keyPath)) };
}

/** Imports a PKCS#8 / SEC1 / PKCS#1 PEM key (EC P-256/P-384 or RSA) for signing. */
async function importPrivateKey(pem: string, path: string): Promise<{ key: CryptoKey; signingAlgorithm: Algorithm | EcdsaParams }> {
  let keyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new PkiError(path, 'not a readable private key', { cause: err });
  }
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  const subtle = webcrypto.subtle;
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : null;
    if (!namedCurve) throw new PkiError(path, `unsupported EC curve ${curve}`);
    const key = await subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { key: key as CryptoKey, signingAlgorithm: { name: 'ECDSA', hash: namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384' } as EcdsaParams };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const key = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key: key as CryptoKey, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new PkiError(path, `unsupported key type ${keyObject.asymmetricKeyType}`);
}

export async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export function keyUsageFor(publicKey: CryptoKey): x509.KeyUsageFlags {
  // RSA key exchange (TLS 1.2 static RSA) needs keyEncipherment; ECDSA keys only sign.
  return publicKey.algorithm.name === 'ECDSA'
    ? x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
}

/** A positive 128-bit serial whose first byte is non-zero and below 0x80 (no DER sign padding). */
export function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

export async function writeKey(path: string, key: CryptoKey): Promise<void> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  const pem = x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
  await atomicWrite(path, pem, 0o600);
}

export async function writePublic(path: string, text: string): Promise<void> {
  await atomicWrite(path, text, 0o644);
}

/** Writes via a temporary file and rename, so a reader never sees half a file; sets the mode even on replacement. */
async function atomicWrite(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Distinct non-empty values, in first-seen order. */
export function unique(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.length > 0))];
}

/** A name usable as a file name. */
export function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

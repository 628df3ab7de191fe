/**
 * Development PKI: a private CA, a server certificate, client certificates and a CRL,
 * made with @peculiar/x509 over Node's WebCrypto (no openssl binary).
 *
 * Keys are ECDSA P-256 (fast to make; accepted by Node/OpenSSL, GnuTLS as used by
 * rsyslog's `gtls` driver and syslog-ng; tested in test/pki and test/interop). Signatures
 * are ECDSA with SHA-256. Keys are written as unencrypted PKCS#8 PEM, mode 0600.
 *
 * Extensions follow what both OpenSSL and GnuTLS check (RFC 5280 section 4.2):
 *   CA:     basicConstraints CA:TRUE (critical), keyUsage keyCertSign+cRLSign (critical), SKI
 *   leaves: basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical),
 *           extKeyUsage serverAuth or clientAuth, SKI, AKI (the CA's key id), subjectAltName
 *   CRL:    v2, authorityKeyIdentifier and cRLNumber
 *
 * Default client certificate CN: `client1.example.com` (SAN DNS:client1.example.com). It is a
 * fixed name rather than the machine's host name, so the peer identity the ledger records,
 * and `--allow-peer` patterns in docs and tests, are the same on every machine.
 */
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { access, chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { TlsConfigError as PkiError } from '../errors.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;

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

/** Client CN used when `createDevPki` is given no clients. */
export const DEFAULT_CLIENT_CN = 'client1.example.com';
/** Validity of leaf certificates and of the CRL, in days, unless `days` says otherwise. */
export const DEFAULT_DAYS = 365;
/** Validity of a CA made here, in days. */
export const CA_DAYS = 3650;
/** Subject of the dev CA. */
export const CA_SUBJECT = 'CN=syslog-ledger dev CA,O=syslog-ledger';

/** Paths written by `createDevPki` (absolute when `dir` is). */
export interface DevPkiFiles {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
  readonly server: string;
  readonly serverKey: string;
  /** The first client's certificate and key (`client.pem`, `client-key.pem`). */
  readonly client: string;
  readonly clientKey: string;
  /** Every client issued, in order: the first one is `client`, the others `client-<cn>`. */
  readonly clients: ReadonlyArray<{ readonly cn: string; readonly cert: string; readonly key: string; readonly serial: string }>;
  readonly crl: string;
  readonly serverSerial: string;
}

/** Options of `createDevPki`. */
export interface DevPkiOptions {
  /** Folder to write into; created when missing. */
  readonly dir: string;
  /** Extra server names (DNS names or IP addresses) besides localhost, 127.0.0.1, ::1 and the host name. */
  readonly serverNames?: readonly string[];
  /** Client certificates; default one, CN `client1.example.com`. */
  readonly clients?: ReadonlyArray<{ readonly cn: string; readonly sans?: readonly string[] }>;
  /** Validity of the leaf certificates and the CRL, in days (default 365). The CA gets 3650. */
  readonly days?: number;
  /** Replace an existing CA in `dir` (default false: refuse, since that invalidates every certificate it issued). */
  readonly overwrite?: boolean;
}

/** Options of `issueCert`. */
export interface IssueOptions {
  /** Folder holding `ca.pem` and `ca-key.pem`; the certificate is written there too unless `out` has a folder. */
  readonly dir: string;
  /** Subject common name. */
  readonly cn: string;
  /** Subject alternative names (DNS names or IP addresses). Default: the CN. */
  readonly sans?: readonly string[];
  /** Base name: writes `<out>.pem` and `<out>-key.pem`, relative to `dir` unless absolute (folders are created). */
  readonly out: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** A server certificate (extKeyUsage serverAuth) instead of a client one (clientAuth). */
  readonly serverAuth?: boolean;
}

/** A certificate just issued. */
export interface Issued {
  /** Path of the certificate PEM. */
  readonly cert: string;
  /** Path of the private key PEM (PKCS#8, 0600). */
  readonly key: string;
  /** Serial number, lowercase hex, as `revoke` takes it. */
  readonly serial: string;
}


const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** Certificates start a little in the past so that a client whose clock is behind still accepts them. */
const BACKDATE_MS = 5 * 60_000;

interface Ca {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly signingAlgorithm: Algorithm | EcdsaParams;
}

/**
 * Creates a complete dev PKI in `dir`: CA, server certificate, client certificate(s) and an
 * empty CRL. Refuses to replace an existing CA unless `overwrite` is set.
 */
export async function createDevPki(opts: DevPkiOptions): Promise<DevPkiFiles> {
  const dir = opts.dir;
  const days = opts.days ?? DEFAULT_DAYS;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (!opts.overwrite && (await exists(join(dir, PKI_FILES.ca)) || await exists(join(dir, PKI_FILES.caKey)))) {
    throw new PkiError(join(dir, PKI_FILES.ca), 'a CA already exists here; refusing to replace it (it signed the certificates in use)');
  }
  await createCa(dir);
  const now = Date.now();
  const notAfter = new Date(now + days * DAY_MS);
  const serverNames = unique(['localhost', '127.0.0.1', '::1', hostname(), ...(opts.serverNames ?? [])]);
  const server = await issueCert({ dir, cn: 'localhost', sans: serverNames, out: 'server', serverAuth: true, notAfter });
  const clientSpecs = opts.clients && opts.clients.length > 0 ? opts.clients : [{ cn: DEFAULT_CLIENT_CN }];
  const clients: Array<{ cn: string; cert: string; key: string; serial: string }> = [];
  for (const [i, c] of clientSpecs.entries()) {
    const out = i === 0 ? 'client' : `client-${fileSafe(c.cn)}`;
    const issued = await issueCert({ dir, cn: c.cn, sans: c.sans ?? [c.cn], out, notAfter });
    clients.push({ cn: c.cn, ...issued });
  }
  const crl = await writeCrl(dir, [], notAfter);
  const first = clients[0]!;
  return {
    dir,
    ca: join(dir, PKI_FILES.ca),
    caKey: join(dir, PKI_FILES.caKey),
    server: server.cert,
    serverKey: server.key,
    client: first.cert,
    clientKey: first.key,
    clients,
    crl,
    serverSerial: server.serial,
  };
}

/**
 * Creates a self-signed CA (`ca.pem`, `ca-key.pem`) in `dir`, replacing any there.
 * Tests use it for a second, foreign CA.
 */
export async function createCa(dir: string, opts: { subject?: string; days?: number } = {}): Promise<{ cert: string; key: string }> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const keys = await generateKeys();
  const now = Date.now();
  const spki = keys.publicKey;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: opts.subject ?? CA_SUBJECT,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (opts.days ?? CA_DAYS) * DAY_MS),
    keys,
    signingAlgorithm: EC_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(spki),
    ],
  });
  const certPath = join(dir, PKI_FILES.ca);
  const keyPath = join(dir, PKI_FILES.caKey);
  await writeKey(keyPath, keys.privateKey);
  await writePublic(certPath, cert.toString('pem') + '\n');
  return { cert: certPath, key: keyPath };
}

/** Issues a server or client certificate signed by the CA in `opts.dir`. */
export async function issueCert(opts: IssueOptions): Promise<Issued> {
  const ca = await loadCa(opts.dir);
  const keys = await generateKeys();
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(now + DEFAULT_DAYS * DAY_MS);
  const caSki = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const serial = newSerial();
  const sans = unique(opts.sans && opts.sans.length > 0 ? opts.sans : [opts.cn]);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsageFor(keys.publicKey), true),
    new x509.ExtendedKeyUsageExtension([opts.serverAuth ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    caSki
      ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false)
      : await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false),
    new x509.SubjectAlternativeNameExtension(sans.map((name) => ({ type: isIP(name) ? ('ip' as const) : ('dns' as const), value: name })), false),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [opts.cn] }],
    issuer: ca.cert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ca.signingAlgorithm,
    extensions,
  });
  const base = opts.out.startsWith('/') ? opts.out : join(opts.dir, opts.out);
  const certPath = `${base}.pem`;
  const keyPath = `${base}-key.pem`;
  await mkdir(dirname(base), { recursive: true, mode: 0o755 });
  await writeKey(keyPath, keys.privateKey);
  await writePublic(certPath, cert.toString('pem') + '\n');
  return { cert: certPath, key: keyPath, serial };
}

/**
 * Writes `crl.pem` in `dir`, signed by its CA, listing `serials` (hex, any case, colons
 * allowed) together with the serials the existing `crl.pem` already revokes.
 * Returns the CRL's path.
 */
export async function revoke(opts: { dir: string; serials: readonly string[]; days?: number }): Promise<string> {
  const previous = await readCrlSerials(join(opts.dir, PKI_FILES.crl));
  const serials = unique([...previous, ...opts.serials.map(normalizeSerial)]);
  return writeCrl(opts.dir, serials, new Date(Date.now() + (opts.days ?? DEFAULT_DAYS) * DAY_MS));
}

/** Normalizes a serial number: lowercase hex, no colons, no leading zero bytes beyond one. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replaceAll(':', '').trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new PkiError('serial', `not a hexadecimal serial number: ${serial}`);
  return hex.replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

async function writeCrl(dir: string, serials: readonly string[], nextUpdate: Date): Promise<string> {
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

async function loadCa(dir: string): Promise<Ca> {
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

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function keyUsageFor(publicKey: CryptoKey): x509.KeyUsageFlags {
  // RSA key exchange (TLS 1.2 static RSA) needs keyEncipherment; ECDSA keys only sign.
  return publicKey.algorithm.name === 'ECDSA'
    ? x509.KeyUsageFlags.digitalSignature
    : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
}

/** A positive 128-bit serial whose first byte is non-zero and below 0x80 (no DER sign padding). */
function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

async function writeKey(path: string, key: CryptoKey): Promise<void> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  const pem = x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
  await atomicWrite(path, pem, 0o600);
}

async function writePublic(path: string, text: string): Promise<void> {
  await atomicWrite(path, text, 0o644);
}

/** Writes via a temporary file and rename, so a reader never sees half a file; sets the mode even on replacement. */
async function atomicWrite(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.length > 0))];
}

function fileSafe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

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
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { writeCrl } from './crl.js';
import {
  BACKDATE_MS,
  DAY_MS,
  EC_SIGN,
  exists,
  fileSafe,
  generateKeys,
  keyUsageFor,
  loadCa,
  newSerial,
  PkiError,
  PKI_FILES,
  unique,
  writeKey,
  writePublic,
} from './keys.js';

export { normalizeSerial, revoke } from './crl.js';
export { PKI_FILES } from './keys.js';

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

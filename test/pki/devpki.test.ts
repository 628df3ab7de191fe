import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import '../../src/pki/reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createDevPki, DEFAULT_CLIENT_CN, issueCert, revoke, type DevPkiFiles } from '../../src/pki/devpki.js';
/** PEM private-key markers, assembled at run time so no committed file looks like it holds a key. */
const pem = (kind: string, edge: 'BEGIN' | 'END'): string => `-----${edge} ${kind}${kind ? ' ' : ''}PRIVATE` + ' KEY-----';


interface HandshakeResult {
  readonly authorized: boolean;
  readonly authorizationError: string | null;
  readonly peerCn: string | null;
}

/**
 * Runs one mTLS handshake against a Node TLS server configured the way the listener is
 * (requestCert, rejectUnauthorized: false, then look at socket.authorized) and reports what
 * the server saw. The client checks the server certificate against the dev CA for `localhost`.
 */
async function handshake(pki: DevPkiFiles, client: { cert: string; key: string }, opts: { crl?: string } = {}): Promise<HandshakeResult> {
  const [ca, cert, key, clientCert, clientKey] = await Promise.all(
    [pki.ca, pki.server, pki.serverKey, client.cert, client.key].map((p) => readFile(p)),
  );
  const crl = opts.crl ? await readFile(opts.crl) : undefined;
  const server = createServer({ ca, cert, key, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', ...(crl ? { crl } : {}) });
  const seen = new Promise<HandshakeResult>((resolve) => {
    server.once('secureConnection', (socket: TLSSocket) => {
      const peer = socket.getPeerCertificate();
      resolve({
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
        peerCn: typeof peer.subject?.CN === 'string' ? peer.subject.CN : null,
      });
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: clientCert!, key: clientKey! });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => (socket.authorized ? resolve() : reject(new Error(`server certificate refused: ${socket.authorizationError}`))));
      socket.once('error', reject);
    });
    const result = await seen;
    socket.destroy();
    return result;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('dev PKI', () => {
  let root: string;
  let pki: DevPkiFiles;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'devpki-'));
    pki = await createDevPki({ dir: join(root, 'pki'), serverNames: ['syslog.example.test'] });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the CA, server, client and CRL files, keys readable by the owner only', async () => {
    for (const f of [pki.ca, pki.server, pki.client, pki.crl, pki.caKey, pki.serverKey, pki.clientKey]) {
      expect((await stat(f)).isFile()).toBe(true);
    }
    for (const k of [pki.caKey, pki.serverKey, pki.clientKey]) {
      expect((await stat(k)).mode & 0o777).toBe(0o600);
      expect(await readFile(k, 'utf8')).toMatch(new RegExp(`^${pem('', 'BEGIN')}\n`));
    }
    expect((await stat(pki.ca)).mode & 0o777).toBe(0o644);
  });

  it('server certificate names localhost, the loopback addresses, the host name and extra names', async () => {
    const cert = new X509Certificate(await readFile(pki.server));
    const ca = new X509Certificate(await readFile(pki.ca));
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost(hostname())).toBe(hostname());
    expect(cert.checkHost('syslog.example.test')).toBe('syslog.example.test');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(cert.ca).toBe(false);
    expect(ca.ca).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('certificates carry basicConstraints, keyUsage, SKI and AKI for GnuTLS and OpenSSL', async () => {
    const ca = new x509.X509Certificate(await readFile(pki.ca, 'utf8'));
    const client = new x509.X509Certificate(await readFile(pki.client, 'utf8'));
    const caBc = ca.getExtension(x509.BasicConstraintsExtension);
    expect(caBc?.ca).toBe(true);
    expect(caBc?.critical).toBe(true);
    const caKu = ca.getExtension(x509.KeyUsagesExtension);
    expect(caKu!.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(caKu!.usages & x509.KeyUsageFlags.cRLSign).toBeTruthy();
    expect(client.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(client.getExtension(x509.KeyUsagesExtension)!.usages & x509.KeyUsageFlags.digitalSignature).toBeTruthy();
    expect(client.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    const caSki = ca.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    expect(client.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    expect(client.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(client.subject).toBe(`CN=${DEFAULT_CLIENT_CN}`);
    const crl = new x509.X509Crl(await readFile(pki.crl, 'utf8'));
    expect(crl.entries).toHaveLength(0);
    expect(await crl.verify({ publicKey: ca.publicKey })).toBe(true);
  });

  it('mTLS: a Node TLS server accepts the dev client certificate', async () => {
    const r = await handshake(pki, { cert: pki.client, key: pki.clientKey });
    expect(r).toEqual({ authorized: true, authorizationError: null, peerCn: DEFAULT_CLIENT_CN });
  });

  it('mTLS: the client is still accepted when the (empty) CRL is checked', async () => {
    const r = await handshake(pki, { cert: pki.client, key: pki.clientKey }, { crl: pki.crl });
    expect(r.authorized).toBe(true);
  });

  it('mTLS: a certificate from another CA is refused and the reason names the missing issuer', async () => {
    const foreign = join(root, 'foreign');
    await createCa(foreign, { subject: 'CN=someone else CA' });
    const other = await issueCert({ dir: foreign, cn: DEFAULT_CLIENT_CN, out: 'client' });
    const r = await handshake(pki, other);
    expect(r.authorized).toBe(false);
    expect(r.authorizationError).toMatch(/UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });

  it('mTLS: an expired certificate is refused with CERT_HAS_EXPIRED', async () => {
    const day = 86_400_000;
    const old = await issueCert({
      dir: pki.dir,
      cn: 'expired.example.com',
      out: join(root, 'expired'),
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const r = await handshake(pki, old);
    expect(r.authorized).toBe(false);
    expect(r.authorizationError).toBe('CERT_HAS_EXPIRED');
  });

  it('mTLS: a revoked certificate is refused with CERT_REVOKED once the CRL lists it', async () => {
    const a = await issueCert({ dir: pki.dir, cn: 'revoked-a.example.com', out: join(root, 'revoked-a') });
    const b = await issueCert({ dir: pki.dir, cn: 'revoked-b.example.com', out: join(root, 'revoked-b') });
    await revoke({ dir: pki.dir, serials: [a.serial] });
    const crlPath = await revoke({ dir: pki.dir, serials: [b.serial.toUpperCase()] });
    const crl = new x509.X509Crl(await readFile(crlPath, 'utf8'));
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual([a.serial, b.serial].sort());

    for (const revoked of [a, b]) {
      const r = await handshake(pki, revoked, { crl: crlPath });
      expect(r.authorized).toBe(false);
      expect(r.authorizationError).toBe('CERT_REVOKED');
    }
    const ok = await handshake(pki, { cert: pki.client, key: pki.clientKey }, { crl: crlPath });
    expect(ok.authorized).toBe(true);
  });

  it('issueCert: a server certificate for a new host name verifies for that name', async () => {
    const s = await issueCert({ dir: pki.dir, cn: 'relay.example.com', sans: ['relay.example.com', '10.0.0.7'], out: join(root, 'relay'), serverAuth: true });
    const cert = new X509Certificate(await readFile(s.cert));
    expect(cert.checkHost('relay.example.com')).toBe('relay.example.com');
    expect(cert.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(cert.serialNumber.toLowerCase()).toBe(s.serial);
  });

  it('createDevPki refuses to replace an existing CA unless asked to', async () => {
    await expect(createDevPki({ dir: pki.dir })).rejects.toThrow(/CA already exists/);
    const again = await createDevPki({ dir: join(root, 'second'), clients: [{ cn: 'a.example.com' }, { cn: 'b.example.com', sans: ['b.example.com', 'b2.example.com'] }] });
    expect(again.clients.map((c) => c.cn)).toEqual(['a.example.com', 'b.example.com']);
    expect(again.clients[1]!.cert).toBe(join(root, 'second', 'client-b.example.com.pem'));
    const replaced = await createDevPki({ dir: join(root, 'second'), overwrite: true });
    expect(replaced.clients[0]!.cn).toBe(DEFAULT_CLIENT_CN);
  });
});

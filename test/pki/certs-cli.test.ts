import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/pki/reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsCommand } from '../../src/cli/certs.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await certsCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('syslog-ledger certs', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'certs-cli-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Usage:\n {2}syslog-ledger certs/);
    expect(r.out).toContain('--issue CN');
  });

  it('an unknown option fails with a message naming it', async () => {
    const r = await run(['--out', root, '--colour']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--colour');
  });

  it('--out creates the PKI and prints how a client uses it', async () => {
    const dir = join(root, 'pki');
    const r = await run(['--out', dir, '--client', 'web1.example.com', '--client', 'db1.example.com', '--server-name', 'logs.example.com', '--days', '30']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`openssl s_client -quiet -no_ign_eof -connect localhost:6514`);
    expect(r.out).toContain(`-cert ${join(dir, 'client.pem')} -key ${join(dir, 'client-key.pem')} -CAfile ${join(dir, 'ca.pem')}`);
    expect(r.out).toContain('StreamDriver="gtls"');
    const client = new X509Certificate(await readFile(join(dir, 'client.pem')));
    expect(client.subject).toBe('CN=web1.example.com');
    const days = (Date.parse(client.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThan(31);
    expect((await stat(join(dir, 'client-db1.example.com-key.pem'))).mode & 0o777).toBe(0o600);
    const server = new X509Certificate(await readFile(join(dir, 'server.pem')));
    expect(server.checkHost('logs.example.com')).toBe('logs.example.com');
  });

  it('refuses to replace an existing CA without --force', async () => {
    const dir = join(root, 'pki');
    const before = await readFile(join(dir, 'ca.pem'), 'utf8');
    const r = await run(['--out', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/CA already exists/);
    expect(await readFile(join(dir, 'ca.pem'), 'utf8')).toBe(before);
    expect((await run(['--out', dir, '--force'])).code).toBe(0);
    expect(await readFile(join(dir, 'ca.pem'), 'utf8')).not.toBe(before);
  });

  it('--issue signs a certificate for a new host and --revoke lists it in the CRL', async () => {
    const dir = join(root, 'pki');
    const r = await run(['--issue', 'host7.example.com', '--san', 'host7.example.com', '--san', '192.0.2.7', '--ca-dir', dir, '--out', join(root, 'host7')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const cert = new X509Certificate(await readFile(join(root, 'host7', 'host7.example.com.pem')));
    expect(cert.checkIssued(new X509Certificate(await readFile(join(dir, 'ca.pem'))))).toBe(true);
    expect(cert.checkIP('192.0.2.7')).toBe('192.0.2.7');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const serial = cert.serialNumber;
    const rv = await run(['--revoke', serial, '--ca-dir', dir]);
    expect(rv.code).toBe(0);
    const crl = new x509.X509Crl(await readFile(join(dir, 'crl.pem'), 'utf8'));
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toEqual([serial.toLowerCase()]);
  });

  it('--issue without a CA says how to make one', async () => {
    const r = await run(['--issue', 'x.example.com', '--ca-dir', join(root, 'nothing-here')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no CA here.*syslog-ledger certs --out/);
  });
});

/**
 * SIGHUP reload under load: rotate the server certificate, add a CRL, change the allowlist. Open
 * connections stay up; new ones use the new files; a newly revoked client is refused, also when it
 * offers a TLS session from before; a broken new file is refused with a clear log and the old
 * configuration stays.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createDevPki, issueCert, revoke, type DevPkiFiles } from '../../src/pki/devpki.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, refusedSoon, scrape, waitFor } from '../helpers/tls-client.js';
import { clientOf, ledgerCount, ledgerIndexes, startLoad, tally, type ClientFiles, type Load } from './load.js';

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

describe('SIGHUP reload under load', () => {
  let dir: string;
  let pki: DevPkiFiles;
  let server: RunningServer;
  let good: Load;
  let held: tls.TLSSocket;
  let allowFile: string;
  let victim: ClientFiles;
  let other: ClientFiles;
  const results: string[] = [];

  const refusals = async (reason: string): Promise<number> =>
    metricValue(await scrape(server.metricsPort), 'syslog_ledger_tls_refusals_total', { reason }) ?? 0;

  /** Sends SIGHUP and waits for the server's verdict; returns that log line. */
  async function reload(): Promise<Record<string, unknown>> {
    const from = server.logs.length;
    server.child.kill('SIGHUP');
    return waitFor(async () => server.logs.slice(from).find((l) => String(l.msg).startsWith('SIGHUP:')), 10_000, 50);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-reload-'));
    pki = await createDevPki({ dir: join(dir, 'pki'), clients: [{ cn: 'client1.example.com' }, { cn: 'victim.example.com' }, { cn: 'other.example.com' }] });
    victim = { cert: pki.clients[1]!.cert, key: pki.clients[1]!.key, ca: pki.ca };
    other = { cert: pki.clients[2]!.cert, key: pki.clients[2]!.key, ca: pki.ca };
    allowFile = join(dir, 'allow-peers.txt');
    writeFileSync(allowFile, '# who may send\n*.example.com\n');
    server = await startServer({ pki, args: ['--tls-crl', pki.crl, '--allow-peer-file', allowFile] });
    good = await startLoad(server.port, clientOf(server), { rate: 200, prefix: 'reload' });
    held = await openTls(server.port, clientOf(server));
  }, 120_000);

  afterAll(async () => {
    console.log(results.map((r) => `[reload] ${r}`).join('\n'));
    held?.destroy();
    await server?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('rotates the server certificate and adds a CRL: open connections stay, the revoked client is refused, also with a session from before', async () => {
    expect(await refusedSoon(server.port, victim, 1000)).toBe(false);
    const victimOpen = await openTls(server.port, victim);
    const before13 = await session(server.port, victim, 'TLSv1.3');
    const before12 = await session(server.port, victim, 'TLSv1.2');
    const oldSerial = presentedSerial(await openTls(server.port, clientOf(server)));

    const rotated = await issueCert({ dir: pki.dir, cn: 'localhost', sans: ['localhost', '127.0.0.1'], out: 'server', serverAuth: true });
    await revoke({ dir: pki.dir, serials: [pki.clients[1]!.serial] });
    const revokedBefore = await refusals('revoked');
    const line = await reload();
    expect(line.msg).toBe('SIGHUP: reloaded certificate, key, CA, CRL and allowlist');
    expect(line.crlEntries).toBe(1);
    // The revoked client's open connection is closed; every other one stays.
    expect(line.closedConnections).toBe(1);
    await waitFor(async () => victimOpen.destroyed || victimOpen.closed, 5000);
    expect(metricValue(await scrape(server.metricsPort), 'syslog_ledger_connections_closed_total', { reason: 'revoked' })).toBe(1);

    const newSerial = presentedSerial(await openTls(server.port, clientOf(server)));
    expect(newSerial).toBe(rotated.serial);
    expect(newSerial).not.toBe(oldSerial);
    expect(await refusedSoon(server.port, victim, 2000)).toBe(true);
    const resumed13 = await session(server.port, victim, 'TLSv1.3', before13.session);
    const resumed12 = await session(server.port, victim, 'TLSv1.2', before12.session);
    expect(resumed13.refused).toBe(true);
    expect(resumed12.refused).toBe(true);
    expect(resumed13.reused || resumed12.reused).toBe(false);
    await waitFor(async () => (await refusals('revoked')) >= revokedBefore + 3, 5000);

    // The connection opened before the reload still works.
    expect(held.destroyed).toBe(false);
    await new Promise<void>((res) => held.write('<13>1 - held.example.com app - - - held after reload\n', () => res()));
    await waitFor(async () => Number((await query(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' = 'held after reload'`))[0]!.n) === 1);
    expect(good.closedByServer).toBe(false);
    results.push(`rotation + CRL: the revoked client's open connection closed, ${line.closedConnections} in all; server serial ${oldSerial.slice(0, 8)}… -> ${newSerial.slice(0, 8)}…; revoked client refused (fresh, TLS 1.3 session, TLS 1.2 session: ${[resumed13.refused, resumed12.refused]}); open connections kept`);
  });

  it('never resumes a TLS session, before or after a reload (no tickets, no cache)', async () => {
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await session(server.port, clientOf(server), v);
      const second = await session(server.port, clientOf(server), v, first.session);
      expect(second.refused, v).toBe(false);
      expect(second.reused, v).toBe(false);
    }
    await reload();
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await session(server.port, clientOf(server), v);
      expect(first.ticket, `${v} ticket after reload`).toBe(v === 'TLSv1.2' ? false : first.ticket);
      const second = await session(server.port, clientOf(server), v, first.session);
      expect(second.reused, `${v} after reload`).toBe(false);
    }
    results.push('session resumption: never (TLS 1.2 and 1.3, before and after reloads)');
  });

  it('refuses a broken new file with a clear log and keeps the old configuration', async () => {
    const otherCa = join(dir, 'other-ca');
    await createCa(otherCa);
    const foreignCrl = await revoke({ dir: otherCa, serials: [] });
    const cases: Array<{ name: string; file: string; content: string | Buffer; expect: RegExp }> = [
      { name: 'server certificate not PEM', file: pki.server, content: 'not a certificate\n', expect: /server\.pem: not a PEM certificate/ },
      { name: 'key of another certificate', file: pki.serverKey, content: readFileSync(pki.clientKey), expect: /server-key\.pem: does not match the server certificate/ },
      { name: 'CRL garbage', file: pki.crl, content: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', expect: /crl\.pem: not a PEM CRL/ },
      { name: 'CRL of another CA', file: pki.crl, content: readFileSync(foreignCrl), expect: /crl\.pem: not signed by the CA/ },
      { name: 'CA missing', file: pki.ca, content: '', expect: /ca\.pem: not a PEM certificate/ },
      { name: 'allowlist emptied', file: allowFile, content: '# nobody\n', expect: /--allow-peer-file.*has no patterns/ },
    ];
    for (const c of cases) {
      const saved = join(dir, 'saved');
      copyFileSync(c.file, saved);
      writeFileSync(c.file, c.content);
      const line = await reload();
      copyFileSync(saved, c.file);
      expect(line.msg, c.name).toBe('SIGHUP: reload refused; the old TLS configuration and allowlist stay');
      expect(String(line.err), c.name).toMatch(c.expect);
      // The old configuration: good clients in, the revoked one still out.
      expect(await refusedSoon(server.port, clientOf(server), 1000), c.name).toBe(false);
      expect(await refusedSoon(server.port, victim, 2000), c.name).toBe(true);
      results.push(`broken file (${c.name}): refused: "${String(line.err)}"`);
    }
    expect(good.closedByServer).toBe(false);
  });

  it('re-reads the allowlist file; an open connection of a peer no longer listed is closed', async () => {
    expect(await refusedSoon(server.port, other, 1000)).toBe(false);
    const otherOpen = await openTls(server.port, other);
    const before = await refusals('peer_not_allowed');
    writeFileSync(allowFile, 'client1.example.com\n');
    const line = await reload();
    expect(line.allowPeers).toBe(1);
    expect(line.closedConnections).toBe(1);
    await waitFor(async () => otherOpen.destroyed || otherOpen.closed, 5000);
    expect(await refusedSoon(server.port, other, 2000)).toBe(true);
    expect(await refusals('peer_not_allowed')).toBe(before + 1);
    expect(await refusedSoon(server.port, clientOf(server), 1000)).toBe(false);
    results.push('allowlist file re-read: a peer no longer listed is refused (peer_not_allowed), and its open connection closed');
  });

  it('the good client lost nothing and was never disconnected across the reloads', async () => {
    expect(good.closedByServer).toBe(false);
    await good.stop();
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'reload')) >= good.written, 30_000);
    const t = tally(await ledgerIndexes(server.databaseUrl, 'reload'), good.written);
    results.push(`good client: sent ${good.written}, stored ${t.stored}, missing ${t.missing}, duplicates ${t.duplicates}`);
    expect(t).toEqual({ stored: good.written, missing: 0, duplicates: 0, outOfOrder: 0, through: good.written });
  });
});

function openTls(port: number, files: ClientFiles): Promise<tls.TLSSocket> {
  return new Promise((res, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) });
    s.once('secureConnect', () => {
      s.removeListener('error', reject);
      s.on('error', () => {});
      res(s);
    });
    s.once('error', reject);
  });
}

function presentedSerial(s: tls.TLSSocket): string {
  const serial = s.getPeerCertificate().serialNumber.toLowerCase();
  s.destroy();
  return serial;
}

/**
 * Connects (offering `resume` if given), sends one frame, and reports whether the server kept the
 * connection for 700 ms, whether the session was resumed, and the session to resume next time.
 */
function session(port: number, files: ClientFiles, maxVersion: TlsVersion, resume?: Buffer): Promise<{ refused: boolean; reused: boolean; ticket: boolean; session: Buffer | undefined }> {
  return new Promise((res) => {
    const s = tls.connect({
      host: '127.0.0.1', port, servername: 'localhost', maxVersion,
      ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key),
      ...(resume ? { session: resume } : {}),
    });
    let sess: Buffer | undefined;
    let reused = false;
    let ticket = false;
    s.on('session', (b: Buffer) => (sess = b));
    s.on('secureConnect', () => {
      reused = s.isSessionReused();
      s.write('<13>1 - - sess - - - probe\n');
    });
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      ticket = s.getTLSTicket() !== undefined;
      sess ??= s.getSession();
      s.end();
      res({ refused: false, reused, ticket, session: sess });
    }, 700);
    // The server ending or resetting the connection first is a refusal.
    const refused = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      res({ refused: true, reused, ticket, session: sess });
    };
    s.on('error', refused);
    s.on('end', refused);
    s.on('close', refused);
  });
}

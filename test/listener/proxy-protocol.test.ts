/**
 * `serve --proxy-protocol v2 --trusted-proxy 127.0.0.2/32`, with real TLS: the header is read
 * before TLS, the client certificate still ends at syslog-ledger, peer_addr is the header's client,
 * and every refusal and health check is counted with its reason.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V2_SIGNATURE } from '../../src/listener/proxy-header.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, scrape, waitFor } from '../helpers/tls-client.js';

/** Loopback addresses: the "balancer" connects from 127.0.0.2 (trusted), strangers from 127.0.0.1. */
const BALANCER = '127.0.0.2';
const STRANGER = '127.0.0.1';

function v2Header(client: string, port: number, cmd: 'proxy' | 'local' = 'proxy'): Buffer {
  const h = Buffer.alloc(16);
  V2_SIGNATURE.copy(h);
  h[12] = cmd === 'proxy' ? 0x21 : 0x20;
  if (cmd === 'local') return h;
  h[13] = 0x11;
  h.writeUInt16BE(12, 14);
  const body = Buffer.alloc(12);
  Buffer.from(client.split('.').map(Number)).copy(body, 0);
  Buffer.from([127, 0, 0, 1]).copy(body, 4);
  body.writeUInt16BE(port, 8);
  body.writeUInt16BE(6514, 10);
  return Buffer.concat([h, body]);
}

function rawConnect(port: number, from: string): Promise<net.Socket> {
  return new Promise((res, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: from }, () => res(s));
    s.once('error', reject);
  });
}

/** TLS over a socket that already carried what `preamble` holds; resolves once the handshake is done. */
function tlsOver(socket: net.Socket, server: RunningServer): Promise<tls.TLSSocket> {
  return new Promise((res, reject) => {
    const t = tls.connect({ socket, servername: 'localhost', ca: readFileSync(server.pki.ca), cert: readFileSync(server.pki.client), key: readFileSync(server.pki.clientKey) });
    t.once('secureConnect', () => res(t));
    t.once('error', reject);
  });
}

function closed(socket: net.Socket, ms = 5000): Promise<boolean> {
  return new Promise((res) => {
    if (socket.destroyed) return res(true);
    const t = setTimeout(() => res(false), ms);
    socket.once('close', () => {
      clearTimeout(t);
      res(true);
    });
    socket.on('error', () => {});
  });
}

async function send(t: tls.TLSSocket, text: string): Promise<void> {
  await new Promise<void>((res) => t.end(text, () => res()));
  await new Promise<void>((res) => (t.closed ? res() : t.once('close', () => res())));
}

describe('serve --proxy-protocol v2', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ args: ['--proxy-protocol', 'v2', '--trusted-proxy', `${BALANCER}/32`, '--drain-delay', '3s'] });
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  const metric = async (name: string, labels: Record<string, string>): Promise<number> => metricValue(await scrape(server.metricsPort), name, labels) ?? 0;

  it('from the trusted balancer: TLS and the client certificate end here, peer_addr is the header client', async () => {
    const raw = await rawConnect(server.port, BALANCER);
    raw.write(v2Header('192.0.2.7', 40123));
    const t = await tlsOver(raw, server);
    await send(t, '<134>1 2024-05-01T12:00:00Z web-1 app - - - behind the balancer\n');
    const rows = await waitFor(async () => {
      const r = await query<{ peer_addr: string; peer_cn: string }>(server.databaseUrl, "SELECT peer_addr, peer_cn FROM ledger_rows WHERE syslog->>'message' = 'behind the balancer'");
      return r.length ? r : undefined;
    });
    expect(rows).toEqual([{ peer_addr: '192.0.2.7:40123', peer_cn: 'client1.example.com' }]);
  });

  it('a stranger may connect directly (TLS), stored with its own address', async () => {
    const raw = await rawConnect(server.port, STRANGER);
    const t = await tlsOver(raw, server);
    await send(t, '<134>1 2024-05-01T12:00:00Z web-1 app - - - direct\n');
    const rows = await waitFor(async () => {
      const r = await query<{ peer_addr: string }>(server.databaseUrl, "SELECT peer_addr FROM ledger_rows WHERE syslog->>'message' = 'direct'");
      return r.length ? r : undefined;
    });
    expect(rows[0]!.peer_addr).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('a header from a stranger is refused and counted (untrusted)', async () => {
    const before = await metric('syslog_ledger_proxy_refusals_total', { reason: 'untrusted' });
    const raw = await rawConnect(server.port, STRANGER);
    raw.write(v2Header('203.0.113.9', 1));
    expect(await closed(raw)).toBe(true);
    await waitFor(async () => (await metric('syslog_ledger_proxy_refusals_total', { reason: 'untrusted' })) === before + 1);
    // The log line comes through the child's stdout, which may arrive after the metric's scrape.
    await waitFor(async () => server.logs.some((l) => l.reason === 'proxy_untrusted' && l.msg === 'connection refused before TLS (PROXY protocol)'), 5_000, 20);
  });

  it('no header from the balancer (TLS straight away) is refused (missing)', async () => {
    const before = await metric('syslog_ledger_proxy_refusals_total', { reason: 'missing' });
    const raw = await rawConnect(server.port, BALANCER);
    await expect(tlsOver(raw, server)).rejects.toThrow();
    await waitFor(async () => (await metric('syslog_ledger_proxy_refusals_total', { reason: 'missing' })) === before + 1);
  });

  it('a partial header then close is refused (truncated); a malformed one (malformed)', async () => {
    const truncated = await metric('syslog_ledger_proxy_refusals_total', { reason: 'truncated' });
    const raw = await rawConnect(server.port, BALANCER);
    raw.end(v2Header('192.0.2.7', 1).subarray(0, 20));
    await closed(raw);
    await waitFor(async () => (await metric('syslog_ledger_proxy_refusals_total', { reason: 'truncated' })) === truncated + 1);

    const malformed = await metric('syslog_ledger_proxy_refusals_total', { reason: 'malformed' });
    const bad = v2Header('192.0.2.7', 1);
    bad[13] = 0x12; // DGRAM
    const raw2 = await rawConnect(server.port, BALANCER);
    raw2.write(bad);
    expect(await closed(raw2)).toBe(true);
    await waitFor(async () => (await metric('syslog_ledger_proxy_refusals_total', { reason: 'malformed' })) === malformed + 1);
  });

  it('a header that stops half-way is cut after 5 s (timeout), as is a stranger that sends nothing', async () => {
    const before = await metric('syslog_ledger_proxy_refusals_total', { reason: 'timeout' });
    const slow = await rawConnect(server.port, BALANCER);
    slow.write(v2Header('192.0.2.7', 1).subarray(0, 10));
    const silent = await rawConnect(server.port, STRANGER);
    const t0 = Date.now();
    expect(await closed(slow, 8000)).toBe(true);
    expect(await closed(silent, 8000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThan(4000);
    await waitFor(async () => (await metric('syslog_ledger_proxy_refusals_total', { reason: 'timeout' })) === before + 2);
  });

  it('HAProxy health checks (LOCAL then close, connect then close) are health checks, not TLS refusals', async () => {
    const tlsBefore = metricSum(await scrape(server.metricsPort), 'syslog_ledger_tls_refusals_total');
    const local = await metric('syslog_ledger_proxy_health_checks_total', { kind: 'local' });
    const empty = await metric('syslog_ledger_proxy_health_checks_total', { kind: 'empty' });
    for (let i = 0; i < 3; i++) {
      const raw = await rawConnect(server.port, BALANCER);
      raw.end(v2Header('0.0.0.0', 0, 'local'));
      await closed(raw);
      const bare = await rawConnect(server.port, BALANCER);
      bare.end();
      await closed(bare);
      // A client that left the balancer at once: its PROXY header, then close, no TLS byte.
      const gone = await rawConnect(server.port, BALANCER);
      gone.end(v2Header('192.0.2.9', 1));
      await closed(gone);
    }
    await waitFor(async () => (await metric('syslog_ledger_proxy_health_checks_total', { kind: 'local' })) === local + 3);
    await waitFor(async () => (await metric('syslog_ledger_proxy_health_checks_total', { kind: 'empty' })) === empty + 6);
    expect(metricSum(await scrape(server.metricsPort), 'syslog_ledger_tls_refusals_total')).toBe(tlsBefore);
  });

  it('SIGTERM: /readyz answers 503 during --drain-delay while the listener still accepts, then all is committed', async () => {
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).status).toBe(200);
    const exited = new Promise<number | null>((res) => server.child.once('exit', (code) => res(code)));
    server.child.kill('SIGTERM');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${server.metricsPort}/readyz`)).status === 503, 2000, 50);
    // Still accepting meanwhile: a connection that was on its way is served.
    const raw = await rawConnect(server.port, BALANCER);
    raw.write(v2Header('192.0.2.8', 40124));
    const t = await tlsOver(raw, server);
    await send(t, '<134>1 2024-05-01T12:00:00Z web-1 app - - - while draining\n');
    expect(await exited).toBe(0);
    const rows = await query<{ peer_addr: string }>(server.databaseUrl, "SELECT peer_addr FROM ledger_rows WHERE syslog->>'message' = 'while draining'");
    expect(rows).toEqual([{ peer_addr: '192.0.2.8:40124' }]);
  });
});

function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.split(' ').pop());
  return sum;
}

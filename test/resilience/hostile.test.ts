/**
 * Hostile and broken clients against one server, while a well-behaved client keeps sending: each
 * is refused or bounded as specified and counted with its reason, and the good client loses nothing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, createDevPki, issueCert, revoke, type DevPkiFiles, type Issued } from '../../src/pki/devpki.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { metricValue, refusedSoon, scrape, waitFor } from '../helpers/tls-client.js';
import { clientOf, ledgerCount, ledgerIndexes, MiB, sampleRss, sleep, startLoad, tally, type ClientFiles, type Load } from './load.js';

const HANDSHAKE_TIMEOUT_MS = 2000;
// Long enough for 1,000 mTLS handshakes to finish before the first connection's idle timer runs out,
// also when the VM runs at a third of its usual speed (seen: 13 s to open them).
const IDLE_TIMEOUT_MS = 30_000;
const MAX_CONNECTIONS = 1100;
const PER_PEER = 50;
const IDLE_CONNECTIONS = 1000;
const IDLE_PEERS = 25;

describe('hostile and broken clients, with a good client served throughout', () => {
  let dir: string;
  let pki: DevPkiFiles;
  let server: RunningServer;
  let good: Load;
  let slowPeer: Issued;
  const idlePeers: Issued[] = [];
  let rss: ReturnType<typeof sampleRss>;
  const results: string[] = [];

  const refusals = async (reason: string): Promise<number> =>
    metricValue(await scrape(server.metricsPort), 'syslog_ledger_tls_refusals_total', { reason }) ?? 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-hostile-'));
    pki = await createDevPki({ dir: join(dir, 'pki'), clients: [{ cn: 'client1.example.com' }, { cn: 'revoked.example.com' }] });
    await revoke({ dir: pki.dir, serials: [pki.clients[1]!.serial] });
    slowPeer = await issueCert({ dir: pki.dir, cn: 'slow.example.com', out: 'slow' });
    for (let i = 0; i < IDLE_PEERS; i++) idlePeers.push(await issueCert({ dir: pki.dir, cn: `idle${i}.example.com`, out: `idle${i}` }));
    server = await startServer({
      pki,
      args: [
        '--tls-crl', pki.crl,
        '--allow-peer', '*.example.com',
        '--handshake-timeout', `${HANDSHAKE_TIMEOUT_MS}ms`,
        '--idle-timeout', `${IDLE_TIMEOUT_MS}ms`,
        '--max-connections', String(MAX_CONNECTIONS),
        '--max-connections-per-peer', String(PER_PEER),
      ],
    });
    rss = sampleRss(server.child.pid!);
    good = await startLoad(server.port, clientOf(server), { rate: 200, prefix: 'good' });
  }, 120_000);

  afterAll(async () => {
    rss?.stop();
    console.log(results.map((r) => `[hostile] ${r}`).join('\n'));
    await server?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('slowloris before the handshake (a ClientHello a byte a second) is cut at the handshake timeout', async () => {
    const hello = await captureClientHello(clientOf(server));
    const before = await refusals('handshake_timeout');
    const t0 = Date.now();
    const closedAfter = await new Promise<number>((res) => {
      const s = net.connect(server.port, '127.0.0.1');
      let i = 0;
      const t = setInterval(() => {
        if (i < hello.length && !s.destroyed) s.write(hello.subarray(i, ++i));
      }, 1000);
      s.on('error', () => {});
      s.on('close', () => {
        clearInterval(t);
        res(Date.now() - t0);
      });
    });
    expect(closedAfter).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 1500);
    await waitFor(async () => (await refusals('handshake_timeout')) > before);
    results.push(`slowloris (handshake): closed after ${closedAfter} ms`);
  });

  it('slowloris after the handshake (a frame a byte a second) holds at most --max-connections-per-peer connections', async () => {
    const before = await refusals('connection_limit');
    const files: ClientFiles = { cert: slowPeer.cert, key: slowPeer.key, ca: pki.ca };
    const sockets = await Promise.all(Array.from({ length: PER_PEER + 10 }, () => openTls(server.port, files)));
    await sleep(500);
    const open = sockets.filter((s) => !s.destroyed);
    const timers = open.map((s) => {
      const bytes = Buffer.from('<13>1 - slow.example.com slow - - - dribbled\n');
      let i = 0;
      return setInterval(() => {
        if (!s.destroyed && i < bytes.length) s.write(bytes.subarray(i, ++i));
      }, 1000);
    });
    await sleep(3000);
    const stillOpen = open.filter((s) => !s.destroyed).length;
    const limited = (await refusals('connection_limit')) - before;
    timers.forEach(clearInterval);
    sockets.forEach((s) => s.destroy());
    results.push(`slowloris (after handshake): ${PER_PEER + 10} opened, ${stillOpen} held after 3 s, ${limited} refused connection_limit`);
    expect(stillOpen).toBe(PER_PEER);
    expect(limited).toBe(10);
  });

  it('handshake flood (raw TCP connects that never handshake, held open) is bounded by --max-connections and the handshake timeout; new clients still get in', async () => {
    const beforeTimeout = await refusals('handshake_timeout');
    const beforeLimit = await refusals('connection_limit');
    const n = MAX_CONNECTIONS + 200;
    const sockets: net.Socket[] = [];
    let closedByServer = 0;
    const t0 = Date.now();
    for (let i = 0; i < n; i++) {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closedByServer++);
      sockets.push(s);
      if (i % 100 === 99) await sleep(10);
    }
    const openedMs = Date.now() - t0;
    await sleep(500);
    // At the limit, a newcomer evicts the oldest connection still in its handshake.
    const duringFlood = await refusedSoon(server.port, clientOf(server), 1000);
    const peakRss = rss.lastBytes;
    await waitFor(async () => closedByServer === n, HANDSHAKE_TIMEOUT_MS * 4, 100);
    const allClosedMs = Date.now() - t0;
    const timedOut = (await refusals('handshake_timeout')) - beforeTimeout;
    const limited = (await refusals('connection_limit')) - beforeLimit;
    // After the flood has timed out, new clients get in again.
    const afterFlood = await refusedSoon(server.port, clientOf(server), 1000);
    results.push(
      `handshake flood: ${n} connects in ${openedMs} ms, all closed by the server ${allClosedMs} ms after the first; ` +
        `${timedOut} handshake_timeout, ${limited} connection_limit; a new good client during the flood refused: ${duringFlood}, after: ${afterFlood}; ` +
        `RSS ${(peakRss / MiB).toFixed(0)} MiB`,
    );
    expect(timedOut + limited).toBeGreaterThanOrEqual(n - 1);
    // The excess is refused at the limit. Under load the server's accepts can lag the connects, and a
    // connect accepted after the first handshake timeouts freed their slots gets in (9 of 200 on a
    // loaded machine): a few may time out instead of being refused.
    expect(limited).toBeGreaterThanOrEqual(n - MAX_CONNECTIONS - 25);
    expect(duringFlood).toBe(false);
    expect(afterFlood).toBe(false);
    expect(good.closedByServer).toBe(false);
  });

  it(`${IDLE_CONNECTIONS} idle connections are held, then closed at the idle timeout`, async () => {
    const t0 = Date.now();
    const sockets: tls.TLSSocket[] = [];
    let closed = 0;
    for (let i = 0; i < IDLE_CONNECTIONS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) => {
          const p = idlePeers[(i + j) % IDLE_PEERS]!;
          return openTls(server.port, { cert: p.cert, key: p.key, ca: pki.ca });
        }),
      );
      for (const s of batch) s.once('close', () => closed++);
      sockets.push(...batch);
    }
    const openedMs = Date.now() - t0;
    const open = await waitFor(async () => {
      const v = metricValue(await scrape(server.metricsPort), 'syslog_ledger_connections_open') ?? 0;
      // On a loaded machine opening them takes long enough for the first to reach the idle timeout.
      return v + closed >= IDLE_CONNECTIONS ? v : undefined;
    }, IDLE_TIMEOUT_MS);
    await sleep(300);
    const heldRss = rss.lastBytes;
    await waitFor(async () => closed === IDLE_CONNECTIONS, IDLE_TIMEOUT_MS + 10_000, 200);
    const closedMs = Date.now() - t0;
    const text = await scrape(server.metricsPort);
    const idleClosed = metricValue(text, 'syslog_ledger_connections_closed_total', { reason: 'idle_timeout' }) ?? 0;
    results.push(`${IDLE_CONNECTIONS} idle connections: opened in ${openedMs} ms, ${open} open at once, RSS then ${(heldRss / MiB).toFixed(0)} MiB; all closed by the server after ${closedMs} ms (${idleClosed} idle_timeout)`);
    expect(idleClosed).toBeGreaterThanOrEqual(IDLE_CONNECTIONS);
    expect(good.closedByServer).toBe(false);
  }, 3 * IDLE_TIMEOUT_MS);

  it('a 10 MB frame is cut at --max-frame-size, flagged truncated, and the next frame is read (LF and octet-counted)', async () => {
    const big = 10 * MiB;
    const head = '<134>1 2024-05-01T12:00:00Z big.example.com bigapp - - - ';
    const lf = `${head}huge-lf ${'x'.repeat(big)}\n<134>1 2024-05-01T12:00:01Z big.example.com bigapp - - - after-lf\n`;
    const msg = `${head}huge-oc ${'y'.repeat(big)}`;
    const oc = `${Buffer.byteLength(msg)} ${msg}<134>1 2024-05-01T12:00:02Z big.example.com bigapp - - - after-oc\n`;
    const s = await openTls(server.port, clientOf(server));
    await new Promise<void>((res) => s.end(lf + oc, () => res()));
    await new Promise<void>((res) => (s.closed ? res() : s.once('close', () => res())));
    const rows = await waitFor(async () => {
      const r = await query<{ truncated: boolean; len: number; msg: string | null }>(
        server.databaseUrl,
        `SELECT truncated, length(raw) AS len, syslog->>'message' AS msg
           FROM ledger_rows WHERE position('big.example.com' in convert_from(substring(raw from 1 for 60), 'UTF8')) > 0 ORDER BY seq`,
      );
      return r.length >= 4 ? r : undefined;
    });
    expect(rows.map((r) => [r.truncated, r.len])).toEqual([
      [true, 64 * 1024],
      [false, expect.any(Number)],
      [true, 64 * 1024],
      [false, expect.any(Number)],
    ]);
    expect(rows[1]!.msg).toBe('after-lf');
    expect(rows[3]!.msg).toBe('after-oc');
    const truncated = metricValue(await scrape(server.metricsPort), 'syslog_ledger_frames_truncated_total');
    results.push(`10 MB frames: stored cut at ${rows[0]!.len} bytes, flagged; next frames read; frames_truncated_total ${truncated}`);
    expect(truncated).toBe(2);
  });

  it('expired, revoked (CRL), other-CA and not-allowed certificates are refused and counted by reason', async () => {
    const expired = await issueCert({ dir: pki.dir, cn: 'expired.example.com', out: 'expired', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const otherDir = join(dir, 'other-ca');
    await createCa(otherDir);
    const foreign = await issueCert({ dir: otherDir, cn: 'foreign.example.com', out: 'foreign' });
    const stranger = await issueCert({ dir: pki.dir, cn: 'stranger.example.org', out: 'stranger' });
    const cases: Array<[string, ClientFiles]> = [
      ['expired', { cert: expired.cert, key: expired.key, ca: pki.ca }],
      ['revoked', { cert: pki.clients[1]!.cert, key: pki.clients[1]!.key, ca: pki.ca }],
      ['unknown_ca', { cert: foreign.cert, key: foreign.key, ca: pki.ca }],
      ['peer_not_allowed', { cert: stranger.cert, key: stranger.key, ca: pki.ca }],
    ];
    for (const [reason, files] of cases) {
      const before = await refusals(reason);
      expect(await refusedSoon(server.port, files), reason).toBe(true);
      await waitFor(async () => (await refusals(reason)) === before + 1, 5000);
      results.push(`${reason}: refused, counted`);
    }
    const probes = await query(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' = 'probe'`);
    expect(Number(probes[0]!.n)).toBe(0);
  });

  it('the good client was served throughout, with no loss; RSS stayed bounded', async () => {
    await good.stop();
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'good')) >= good.written, 30_000);
    const t = tally(await ledgerIndexes(server.databaseUrl, 'good'), good.written);
    results.push(`good client: sent ${good.written}, stored ${t.stored}, missing ${t.missing}, duplicates ${t.duplicates}; max RSS ${(rss.maxBytes / MiB).toFixed(0)} MiB`);
    expect(t).toEqual({ stored: good.written, missing: 0, duplicates: 0, outOfOrder: 0, through: good.written });
    expect(rss.maxBytes).toBeLessThan(400 * MiB);
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

/** The ClientHello a Node client sends, captured by a plain TCP server. */
async function captureClientHello(files: ClientFiles): Promise<Buffer> {
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  const port = (srv.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((res) => srv.once('connection', (s) => s.once('data', (d: Buffer) => {
    res(d);
    s.destroy();
  })));
  const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  srv.close();
  return hello;
}

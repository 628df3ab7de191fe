/**
 * Per-peer rate limit (over it the peer is slowed by backpressure, never dropped) and host binding
 * (an event whose HOSTNAME its certificate may not claim is stored, flagged, counted and listed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';
import { clientOf, frame, ledgerCount, ledgerIndexes, tally } from './load.js';

const RATE = 500;
const N = 2000;

describe('per-peer limits', () => {
  let server: RunningServer;
  const results: string[] = [];

  beforeAll(async () => {
    server = await startServer({
      clients: [{ cn: 'client1.example.com' }, { cn: 'unbound.example.com' }],
      args: ['--rate-limit', String(RATE), '--rate-burst', String(RATE), '--host-binding', 'client1.example.com=web-*.example.com,client1.example.com'],
    });
  }, 120_000);
  afterAll(async () => {
    console.log(results.map((r) => `[limits] ${r}`).join('\n'));
    await server?.cleanup();
  });

  it(`--rate-limit ${RATE}/s slows a peer sending ${N} events at once, and drops none`, async () => {
    const socket = await connect(server.port, clientOf(server));
    let payload = '';
    for (let i = 0; i < N; i++) payload += frame('rate', i);
    const t0 = Date.now();
    let closedByServer = false;
    socket.on('end', () => (closedByServer = true));
    await new Promise<void>((res) => socket.write(payload, () => res()));
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'rate')) >= N, 30_000, 100);
    const ms = Date.now() - t0;
    socket.destroy();
    const t = tally(await ledgerIndexes(server.databaseUrl, 'rate'), N);
    const throttled = metricValue(await scrape(server.metricsPort), 'syslog_ledger_peer_throttled_total') ?? 0;
    results.push(`rate limit ${RATE}/s burst ${RATE}: ${N} events sent at once, all ${t.stored} stored in ${ms} ms (${Math.round((N * 1000) / ms)}/s), missing ${t.missing}, duplicates ${t.duplicates}; throttled ${throttled} times`);
    expect(t).toEqual({ stored: N, missing: 0, duplicates: 0, outOfOrder: 0, through: N });
    // (N - burst) events at RATE/s: at least that long, give or take one read's worth.
    expect(ms).toBeGreaterThanOrEqual(((N - RATE) / RATE) * 1000 * 0.8);
    expect(throttled).toBeGreaterThan(0);
    expect(closedByServer).toBe(false);
  });

  it('host binding: a HOSTNAME the certificate may not claim is stored, flagged hostname_mismatch, counted and listed in the view', async () => {
    const bound = await connect(server.port, clientOf(server));
    await sendAndClose(bound, [frame('bind', 0, 'web-7.example.com'), frame('bind', 1, 'db-1.example.com'), frame('bind', 2, 'client1.example.com'), frame('bind', 3, 'WEB-8.EXAMPLE.COM')].join(''));
    const unbound = await connect(server.port, { cert: server.pki.clients[1]!.cert, key: server.pki.clients[1]!.key, ca: server.pki.ca });
    await sendAndClose(unbound, frame('bind', 4, 'db-1.example.com'));
    await waitFor(async () => (await ledgerCount(server.databaseUrl, 'bind')) === 5);
    const flagged = await query<{ hostname: string; peer_cn: string; message: string }>(
      server.databaseUrl,
      `SELECT hostname, peer_cn, message FROM hostname_mismatches WHERE message LIKE 'bind %' ORDER BY seq`,
    );
    expect(flagged).toEqual([{ hostname: 'db-1.example.com', peer_cn: 'client1.example.com', message: 'bind 1' }]);
    const count = metricValue(await scrape(server.metricsPort), 'syslog_ledger_hostname_mismatch_total');
    expect(count).toBe(1);
    const verify = await server.cli(['verify']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    results.push(`host binding: 5 events, 1 flagged (db-1 claimed by client1), a peer without a binding may claim any name; metric ${count}; verify ${verify.code}`);
  });
});

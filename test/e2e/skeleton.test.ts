import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCert } from '../../src/pki/devpki.js';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, refusedSoon, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

const N = 1000;

function frame(i: number): string {
  const msg = `<134>1 2024-05-01T12:00:00.${String(i).padStart(6, '0')}Z web-${i % 3}.example.com benchapp 4242 ID47 [exampleSDID@32473 iut="3" seq="${i}"] request ${i} served`;
  // Mixed framing, per frame, as rsyslog's receiver allows: even frames octet-counted, odd LF-terminated.
  return i % 2 === 0 ? `${Buffer.byteLength(msg)} ${msg}` : `${msg}\n`;
}

describe('walking skeleton: mTLS in, hash-chained ledger out, verify', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  it('commits 1,000 RFC 5424 frames (mixed framing) once each, in order, with the peer identity', async () => {
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    let payload = '';
    for (let i = 0; i < N; i++) payload += frame(i);
    await sendAndClose(socket, payload);

    await waitFor(async () => Number((await query(server.databaseUrl, 'SELECT count(*) AS n FROM ledger'))[0]!.n) === N);
    const rows = await query<{ seq: string; format: string; peer_cn: string; msg: string; ts: string; hostname: string; raw: Buffer }>(
      server.databaseUrl,
      `SELECT seq, format, peer_cn, syslog->>'message' AS msg, syslog->>'timestamp' AS ts, hostname, raw FROM ledger_rows WHERE chain = 'test-chain' ORDER BY seq`,
    );
    expect(rows).toHaveLength(N);
    rows.forEach((r, i) => {
      expect(Number(r.seq)).toBe(i + 1);
      expect(r.format).toBe('rfc5424');
      expect(r.peer_cn).toBe('client1.example.com');
      expect(r.msg).toBe(`request ${i} served`);
      // Microseconds survive exactly as sent.
      expect(r.ts).toBe(`2024-05-01T12:00:00.${String(i).padStart(6, '0')}Z`);
      expect(r.hostname).toBe(`web-${i % 3}.example.com`);
    });
    // raw keeps the exact frame bytes (without the octet count or the LF delimiter).
    expect(rows[1]!.raw.toString()).toBe(frame(1).slice(0, -1));

    const text = await scrape(server.metricsPort);
    expect(metricValue(text, 'syslog_ledger_frames_received_total', { format: 'rfc5424' })).toBe(N);
    expect(metricValue(text, 'syslog_ledger_events_committed_total')).toBe(N);
  });

  it('verify exits 0 on the intact ledger', async () => {
    const r = await server.cli(['verify']);
    expect(r.stdout).toContain(`intact: ${N} rows`);
    expect(r.code).toBe(0);
  });

  it('the database itself refuses UPDATE, DELETE and TRUNCATE on the ledger', async () => {
    await expect(query(server.databaseUrl, `UPDATE ledger SET peer_cn = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(query(server.databaseUrl, 'DELETE FROM ledger WHERE seq = 1')).rejects.toThrow(/append-only/);
    await expect(query(server.databaseUrl, 'TRUNCATE ledger')).rejects.toThrow(/append-only/);
  });

  it('verify exits 1 and names the seq when a superuser changes one message behind the guard', async () => {
    await query(
      server.databaseUrl,
      `BEGIN;
       ALTER TABLE ledger DISABLE TRIGGER ledger_no_update_delete;
       UPDATE ledger SET ocsf = (coalesce(ocsf::jsonb, '{}') || '{"message": "nothing happened"}')::json WHERE chain = 'test-chain' AND seq = 500;
       ALTER TABLE ledger ENABLE TRIGGER ledger_no_update_delete;
       COMMIT;`,
    );
    const r = await server.cli(['verify']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/TAMPERED chain=test-chain seq=500 hash_mismatch/);
    expect(r.stdout).not.toMatch(/seq=(?!500)\d+ /);
  });

  it('refuses a client without a certificate and one from another CA, and counts both', async () => {
    const noCert = await refusedSoon(server.port, { ca: server.pki.ca });
    const otherDir = join(server.workDir, 'other-ca');
    await createCa(otherDir);
    const foreign = await issueCert({ dir: otherDir, cn: 'intruder.example.com', out: 'intruder' });
    const foreignRefused = await refusedSoon(server.port, { cert: foreign.cert, key: foreign.key, ca: server.pki.ca });
    expect(noCert).toBe(true);
    expect(foreignRefused).toBe(true);
    const text = await waitFor(async () => {
      const t = await scrape(server.metricsPort);
      return metricValue(t, 'syslog_ledger_tls_refusals_total', { reason: 'unknown_ca' }) ? t : undefined;
    });
    expect(metricValue(text, 'syslog_ledger_tls_refusals_total', { reason: 'no_certificate' })).toBe(1);
    expect(metricValue(text, 'syslog_ledger_tls_refusals_total', { reason: 'unknown_ca' })).toBe(1);
    // Nothing from a refused peer reached the ledger.
    const probes = await query(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' = 'probe'`);
    expect(Number(probes[0]!.n)).toBe(0);
  });

  it('SIGTERM commits everything received and exits 0', async () => {
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await new Promise<void>((res) => socket.write('<13>1 - - app - - - last words\n', () => res()));
    await new Promise((r) => setTimeout(r, 200));
    const code = await server.stop('SIGTERM');
    expect(code).toBe(0);
    const rows = await query(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' = 'last words'`);
    expect(Number(rows[0]!.n)).toBe(1);
    socket.destroy();
  });
});

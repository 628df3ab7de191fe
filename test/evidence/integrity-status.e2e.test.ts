/**
 * serve verifies its own chain every --verify-interval (src/verify/incremental.ts): the result is a
 * ledger record, the integrity_status view and the syslog_ledger_verify_* metrics; a tampered row
 * turns them to failed, and serve keeps running (a failure is an alert, never a crash).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

let server: RunningServer;
const CHAIN = 'test-chain';

interface Status {
  chain: string;
  head_seq: string;
  checkpoint_seq: string | null;
  verified_at: Date | null;
  verify_result: string | null;
  verify_reason: string | null;
  verify_detail: string | null;
  verified_to_seq: string | null;
  last_success_at: Date | null;
}

const status = async (): Promise<Status | undefined> =>
  (await query<Status>(server.databaseUrl, 'SELECT * FROM integrity_status WHERE chain = $1', [CHAIN]))[0];

async function send(n: number, tag: string): Promise<void> {
  const c = server.pki.clients[0]!;
  const s = await connect(server.port, { cert: c.cert, key: c.key, ca: server.pki.ca });
  let data = '';
  for (let i = 0; i < n; i++) data += `<134>1 2026-12-06T10:00:00.000001Z web1 app - - - ${tag} ${i}\n`;
  await sendAndClose(s, data);
}

beforeAll(async () => {
  server = await startServer({ args: ['--verify-interval', '2s'] });
}, 120_000);
afterAll(async () => {
  await server?.cleanup();
});

describe('incremental verification in serve', () => {
  it('verify: an intact chain is verified every interval: integrity_status and the metrics say so', async () => {
    await send(50, 'before');
    await waitFor(async () => {
      const s = await status();
      return s?.verify_result === 'intact' && Number(s.verified_to_seq) >= 50 && s;
    }, 60_000, 250);
    const s = (await status())!;
    expect(s.verify_reason).toBeNull();
    expect(Number(s.head_seq)).toBeGreaterThanOrEqual(Number(s.verified_to_seq));
    expect(Number(s.checkpoint_seq)).toBeGreaterThan(0);
    expect(s.last_success_at).toEqual(s.verified_at);
    const m = await scrape(server.metricsPort);
    expect(metricValue(m, 'syslog_ledger_verify_ok', { chain: CHAIN })).toBe(1);
    expect(metricValue(m, 'syslog_ledger_verify_rows_verified_total', { chain: CHAIN })).toBeGreaterThanOrEqual(50);
    const last = metricValue(m, 'syslog_ledger_verify_last_success_timestamp_seconds', { chain: CHAIN })!;
    expect(Math.abs(last * 1000 - Date.now())).toBeLessThan(60_000);
    expect(metricValue(m, 'syslog_ledger_verify_failures_total', { chain: CHAIN, reason: 'tampered' })).toBeUndefined();
    // Each result is a record of the chain itself.
    const rows = await query<{ n: string }>(server.databaseUrl, "SELECT count(*) AS n FROM ledger WHERE chain = $1 AND format = 'internal' AND msgid = 'verify.incremental'", [CHAIN]);
    expect(Number(rows[0]!.n)).toBeGreaterThanOrEqual(1);
  }, 90_000);

  it('verify: a tampered row fails the next verification; the view and metrics say why; serve keeps ingesting', async () => {
    const okBefore = (await status())!.last_success_at;
    const lastSuccess = metricValue(await scrape(server.metricsPort), 'syslog_ledger_verify_last_success_timestamp_seconds', { chain: CHAIN })!;
    // The newest row is always ahead of, or the last of, what was verified: the next run must read it.
    const c = new pg.Client({ connectionString: server.databaseUrl });
    await c.connect();
    try {
      await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
      await c.query("UPDATE ledger SET raw = convert_to('forged', 'UTF8') WHERE chain = $1 AND seq = (SELECT max(seq) FROM ledger WHERE chain = $1)", [CHAIN]);
      await c.query('ALTER TABLE ledger ENABLE TRIGGER USER');
    } finally {
      await c.end();
    }
    const failed = await waitFor(async () => {
      const s = await status();
      return s?.verify_result === 'failed' && s;
    }, 60_000, 250);
    expect(failed.verify_reason).toBe('tampered');
    expect(failed.verify_detail).toMatch(/hash_mismatch/);
    expect(failed.last_success_at).toEqual(okBefore);
    const m = await scrape(server.metricsPort);
    expect(metricValue(m, 'syslog_ledger_verify_ok', { chain: CHAIN })).toBe(0);
    expect(metricValue(m, 'syslog_ledger_verify_failures_total', { chain: CHAIN, reason: 'tampered' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, 'syslog_ledger_verify_last_success_timestamp_seconds', { chain: CHAIN })).toBe(lastSuccess);
    // Still serving, still committing.
    expect(server.child.exitCode).toBeNull();
    const head = Number((await status())!.head_seq);
    await send(5, 'after');
    await waitFor(async () => Number((await status())?.head_seq) >= head + 5, 30_000, 250);
    // And the next runs fail too: the verified position does not move past a tampered row.
    await waitFor(async () => (metricValue(await scrape(server.metricsPort), 'syslog_ledger_verify_failures_total', { chain: CHAIN, reason: 'tampered' }) ?? 0) >= 2, 30_000, 250);
    expect((await status())!.verify_result).toBe('failed');
  }, 120_000);
});

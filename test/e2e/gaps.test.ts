import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';

const CN = 'client1.example.com';

/** rsyslog's `[meta sequenceId="N"]` numbering (RFC 5424 §7.3.1). */
function numbered(n: number): string {
  return `<134>1 2024-05-01T12:00:00.000001Z web-1.example.com app 1 - [meta sequenceId="${n}"] event ${n}\n`;
}

describe('gaps are seen: sender sequence holes and silent sources, counted and ledgered', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ args: ['--expect-source', CN, '--silence-threshold', '3s'] });
  });
  afterAll(async () => {
    await server?.cleanup();
  });

  it('a sequence with a hole is counted per source and recorded in the ledger itself', async () => {
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    // 3 and 4 never arrive.
    await sendAndClose(socket, [1, 2, 5, 6].map(numbered).join(''));
    const text = await waitFor(async () => {
      const t = await scrape(server.metricsPort);
      return metricValue(t, 'syslog_ledger_sequence_gaps_total', { source: CN }) ? t : undefined;
    });
    expect(metricValue(text, 'syslog_ledger_sequence_gaps_total', { source: CN })).toBe(1);
    const rows = await waitFor(async () => {
      const r = await query<{ seq: string; event: Record<string, unknown> }>(
        server.databaseUrl,
        `SELECT seq, event FROM ledger WHERE format = 'internal' AND class_uid = 2004 AND event::text LIKE '%gap%'`,
      );
      return r.length > 0 ? r : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows[0]!.event)).toMatch(/"expected":3/);
    // The four frames and the finding are all in the chain, and it verifies.
    const n = await query<{ n: string }>(server.databaseUrl, `SELECT count(*) AS n FROM ledger WHERE format = 'rfc5424'`);
    expect(Number(n[0]!.n)).toBe(4);
  });

  it('an expected source that stops sending turns silent past the threshold, and the silence is ledgered', async () => {
    const text = await waitFor(async () => {
      const t = await scrape(server.metricsPort);
      return metricValue(t, 'syslog_ledger_source_silent', { source: CN }) === 1 ? t : undefined;
    }, 15_000);
    expect(metricValue(text, 'syslog_ledger_source_silent', { source: CN })).toBe(1);
    const silent = await waitFor(async () => {
      const r = await query(server.databaseUrl, `SELECT seq FROM ledger WHERE format = 'internal' AND event::text LIKE '%silent%'`);
      return r.length > 0 ? r : undefined;
    });
    expect(silent.length).toBeGreaterThanOrEqual(1);
    const v = await server.cli(['verify']);
    expect(v.code).toBe(0);
  });
});

/**
 * The real `syslog-ledger serve` (dist/, built by `npm test`) with `--detections` and redaction on:
 * a brute force over mTLS becomes a finding row naming the attempts, a password never reaches the
 * ledger, the counters move, verify finds the ledger intact, and a restart rebuilds the state.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { connect, metricValue, scrape, sendAndClose, waitFor } from '../helpers/tls-client.js';
import { stamp } from './helpers.js';

describe('serve with --detections and redaction', () => {
  let server: RunningServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sl-detect-serve-'));
    const file = join(dir, 'detections.json');
    writeFileSync(file, JSON.stringify({ warmup: 0, brute_force: { per_source: 5, per_user: 1000, spraying_users: 1000 } }));
    server = await startServer({ args: ['--detections', file] });
  });
  afterAll(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve: a brute force becomes a finding naming its rows; a password is masked; counters and verify agree', async () => {
    const now = Date.now();
    let payload = `<134>${stamp(now)} app-1 billing[9]: retry user=bob password=hunter2\n`;
    for (let i = 0; i < 6; i++) payload += `<38>${stamp(now)} bastion sshd[${700 + i}]: Failed password for root from 203.0.113.44 port ${41000 + i} ssh2\n`;
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(socket, payload);
    const findings = await waitFor(async () => {
      const rows = await query<{ seq: string; refs: Array<{ chain: string; seq: number }> }>(
        server.databaseUrl,
        `SELECT seq::text, event->'unmapped'->'syslog_ledger_detection'->'refs' AS refs FROM ledger_rows WHERE class_uid = 2004 AND syslog->>'msgid' = 'detection.brute_force_source'`,
      );
      return rows.length > 0 ? rows : undefined;
    }, 20_000);
    expect(findings).toHaveLength(1);
    const named = await query<{ msg: string }>(
      server.databaseUrl,
      `SELECT e.syslog->>'message' AS msg FROM ledger_rows f CROSS JOIN LATERAL json_array_elements(f.event->'unmapped'->'syslog_ledger_detection'->'refs') r
       JOIN ledger_rows e ON e.chain = r->>'chain' AND e.seq = (r->>'seq')::bigint WHERE f.seq = $1 ORDER BY e.seq`,
      [findings[0]!.seq],
    );
    expect(named).toHaveLength(5);
    expect(named.every((n) => n.msg.startsWith('Failed password for root from 203.0.113.44'))).toBe(true);

    const secret = await query<{ raw: Buffer; redactions: string[]; hmac: string }>(
      server.databaseUrl,
      `SELECT raw, event->'redactions' AS redactions, event->>'raw_hmac' AS hmac FROM ledger_rows WHERE syslog->>'app_name' = 'billing'`,
    );
    expect(secret[0]!.raw.toString()).toContain('password=<redacted:password>');
    expect(secret[0]!.redactions).toEqual(['password']);
    expect(secret[0]!.hmac).toMatch(/^[0-9a-f]{64}$/);
    const all = await query<{ n: string }>(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE convert_from(raw, 'UTF8') LIKE '%hunter2%' OR event::text LIKE '%hunter2%' OR syslog::text LIKE '%hunter2%'`);
    expect(Number(all[0]!.n)).toBe(0);

    const text = await scrape(server.metricsPort);
    expect(metricValue(text, 'syslog_ledger_detections_total', { rule: 'brute_force_source' })).toBe(1);
    expect(metricValue(text, 'syslog_ledger_detections_total', { rule: 'new_login_network' })).toBe(0);
    expect(metricValue(text, 'syslog_ledger_redactions_total', { rule: 'password' })).toBe(1);
    const v = await server.cli(['verify']);
    expect(v.code).toBe(0);
  });

  it('serve: a restart rebuilds the detector from the ledger (and the running brute force stays one finding)', async () => {
    await server.restart();
    await waitFor(async () => server.logs.some((l) => l.msg === 'detections: state rebuilt from the ledger'), 15_000);
    const rebuilt = server.logs.find((l) => l.msg === 'detections: state rebuilt from the ledger')!;
    expect(rebuilt.findings).toBe(1);
    const socket = await connect(server.port, { cert: server.pki.client, key: server.pki.clientKey, ca: server.pki.ca });
    await sendAndClose(socket, `<38>${stamp(Date.now())} bastion sshd[800]: Failed password for root from 203.0.113.44 port 42000 ssh2\n`);
    await waitFor(async () => Number((await query<{ n: string }>(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE syslog->>'message' LIKE '%port 42000%'`))[0]!.n) === 1, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    const n = await query<{ n: string }>(server.databaseUrl, `SELECT count(*) AS n FROM ledger_rows WHERE class_uid = 2004 AND syslog->>'msgid' LIKE 'detection.%'`);
    expect(Number(n[0]!.n)).toBe(1);
  });
});

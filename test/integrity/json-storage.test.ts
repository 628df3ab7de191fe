/**
 * Migration 007: syslog and event are `json`, stored byte for byte as the canonical JSON the row's
 * hash covers, so verify hashes the stored bytes as they are (its fast path). Rows written while
 * the columns were jsonb (before 007) hold jsonb's printed text instead: verify must still find them
 * intact (re-canonicalized by the reference code) and still catch a change to them.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { verifyLedger } from '../../src/ledger/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { ingest } from '../redact/helpers.js';
import { createDb, tamper, type TestDb } from './helpers.js';

const CHAIN = 'json-chain';
let db: TestDb | undefined;

/** n real records (toRecord of RFC 5424, sshd and JSON lines) through the real writer. */
async function writeRecords(url: string, n: number): Promise<void> {
  const metrics = new Metrics({ defaultMetrics: false });
  const writer = new LedgerWriter({ databaseUrl: url, chain: CHAIN, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 16, queueMaxEvents: 1000, queueMaxBytes: 1 << 20 });
  await writer.start();
  for (let i = 1; i <= n; i++) {
    const line = [
      `<134>1 2026-11-28T12:00:${String(i % 60).padStart(2, '0')}.5Z web-1 nginx 42 ACCESS [req@32473 path="/x/${i}" q="a\\b \"c\""] GET /x/${i} \u00e9 caf\u00e9`,
      `<38>Nov 28 12:00:01 bastion sshd[${1000 + i}]: Failed password for invalid user admin${i} from 203.0.113.${i % 250} port ${40000 + i} ssh2`,
      `{"@timestamp":"2026-11-28T12:00:00Z","host":"app-1","tag":"app:","message":"export ${i} rows \"quoted\" \ttab \u2028 ok"}`,
    ][i % 3]!;
    writer.enqueue(ingest(line, { metrics }).after);
  }
  await writer.close();
}

afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe('json storage of syslog and event (migration 007)', () => {
  it('stores the hashed canonical JSON byte for byte, and verify takes the fast path for every row', async () => {
    db = await createDb('sl_json');
    await writeRecords(db.url, 50);
    const { rows } = await db.pool.query<{ type: string; event: string; syslog: string }>(
      `SELECT pg_typeof(event)::text AS type, event::text AS event, syslog::text AS syslog FROM ledger WHERE chain = $1 ORDER BY seq`,
      [CHAIN],
    );
    expect(rows).toHaveLength(50);
    for (const r of rows) {
      expect(r.type).toBe('json');
      expect(r.event).toBe(canonicalJson(JSON.parse(r.event)));
      expect(r.syslog).toBe(canonicalJson(JSON.parse(r.syslog)));
    }
    const report = await verifyLedger(db.url, { workers: 0 });
    expect(report.findings).toEqual([]);
    expect(report.rows).toBe(50);
    expect(report.rechecked).toBe(0);
  });

  it('rows written as jsonb before migration 007 still verify after it, and a change to one is still caught', async () => {
    db = await createDb('sl_json_legacy');
    // createDb migrated everything; start again from a database at migration 006.
    await db.pool.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await migrate(db.url, loadMigrations().filter((m) => m.version < '007'));
    const before = await db.pool.query<{ type: string }>(`SELECT format_type(atttypid, NULL) AS type FROM pg_attribute WHERE attrelid = 'ledger'::regclass AND attname = 'event'`);
    expect(before.rows[0]!.type).toBe('jsonb');
    await writeRecords(db.url, 30);
    // 007 first; later migrations (008 onwards) follow it.
    expect((await migrate(db.url)).applied[0]).toBe('007_storage.sql');

    const stored = (await db.pool.query<{ event: string }>(`SELECT event::text AS event FROM ledger WHERE chain = $1 AND seq = 3`, [CHAIN])).rows[0]!.event;
    expect(stored).not.toBe(canonicalJson(JSON.parse(stored))); // jsonb's spelling: ", " and ": ", keys by length
    const intact = await verifyLedger(db.url, { workers: 0 });
    expect(intact.findings).toEqual([]);
    expect(intact.rows).toBe(30);
    expect(intact.rechecked).toBe(30);

    await tamper(db.pool, 'ledger', `UPDATE ledger SET event = jsonb_set(event::jsonb, '{message}', '"nothing to see"')::json WHERE chain = $1 AND seq = 12`, [CHAIN]);
    const changed = await verifyLedger(db.url, { workers: 0 });
    expect(changed.findings.map((f) => `${f.chain}:${f.seq}:${f.kind}`)).toEqual([`${CHAIN}:12:hash_mismatch`]);
  });
});

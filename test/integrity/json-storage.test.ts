/**
 * Migration 007: syslog and event are `json`, stored byte for byte as the canonical JSON the row's
 * hash covers, so verify hashes the stored bytes as they are (its fast path). Rows written while
 * the columns were jsonb (before 007) hold jsonb's printed text instead: verify must still find them
 * intact (re-canonicalized by the reference code) and still catch a change to them.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import copyStreams from 'pg-copy-streams';
import { canonicalJson, chainRecord } from '../../src/ledger/canonical.js';
import { COPY_SQL, copyLine } from '../../src/ledger/copy.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { verifyLedger } from '../../src/verify/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { ingest } from '../redact/helpers.js';
import { createDb, tamper, type TestDb } from './helpers.js';

const CHAIN = 'json-chain';
let db: TestDb | undefined;

/** n real records (toRecord of RFC 5424, sshd and JSON lines). */
function records(n: number): LedgerRecord[] {
  const metrics = new Metrics({ defaultMetrics: false });
  const out: LedgerRecord[] = [];
  for (let i = 1; i <= n; i++) {
    const line = [
      `<134>1 2026-11-28T12:00:${String(i % 60).padStart(2, '0')}.5Z web-1 nginx 42 ACCESS [req@32473 path="/x/${i}" q="a\\b \"c\""] GET /x/${i} \u00e9 caf\u00e9`,
      `<38>Nov 28 12:00:01 bastion sshd[${1000 + i}]: Failed password for invalid user admin${i} from 203.0.113.${i % 250} port ${40000 + i} ssh2`,
      `{"@timestamp":"2026-11-28T12:00:00Z","host":"app-1","tag":"app:","message":"export ${i} rows \"quoted\" \ttab \u2028 ok"}`,
    ][i % 3]!;
    out.push(ingest(line, { metrics }).after);
  }
  return out;
}

/** n records through the real writer (ledger format v3). */
async function writeRecords(url: string, n: number): Promise<void> {
  const metrics = new Metrics({ defaultMetrics: false });
  const writer = new LedgerWriter({ databaseUrl: url, chain: CHAIN, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 16, queueMaxEvents: 1000, queueMaxBytes: 1 << 20 });
  await writer.start();
  for (const r of records(n)) writer.enqueue(r);
  await writer.close();
}

/** n records as the writer stored them before format v3 (canonical form version 2, COPY of the v2 columns). */
async function writeV2Records(db: TestDb, n: number): Promise<void> {
  await db.pool.query('INSERT INTO chains (chain) VALUES ($1) ON CONFLICT DO NOTHING', [CHAIN]);
  let prev: Buffer = Buffer.alloc(32);
  const lines = records(n).map((r, i) => {
    const { row, syslogJson, eventJson } = chainRecord(r, CHAIN, i + 1, prev);
    prev = row.hash;
    return copyLine(row, syslogJson, eventJson);
  });
  const c = await db.pool.connect();
  try {
    await pipeline(Readable.from([Buffer.from(lines.join(''))]), c.query(copyStreams.from(COPY_SQL)));
  } finally {
    c.release();
  }
  await db.pool.query('UPDATE chains SET head_seq = $2, head_hash = $3 WHERE chain = $1', [CHAIN, n, prev]);
}

afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe('json storage of syslog and event (migration 007)', () => {
  it('stores the hashed canonical JSON byte for byte, and verify takes the fast path for every row', async () => {
    db = await createDb('sl_json');
    await writeRecords(db.url, 50);
    // Format v3: the stored OCSF part, and the structured data when the frame has some.
    const { rows } = await db.pool.query<{ type: string; ocsf: string; sd: string | null }>(
      `SELECT pg_typeof(ocsf)::text AS type, ocsf::text AS ocsf, sd::text AS sd FROM ledger WHERE chain = $1 ORDER BY seq`,
      [CHAIN],
    );
    expect(rows).toHaveLength(50);
    for (const r of rows) {
      expect(r.type).toBe('json');
      expect(r.ocsf).toBe(canonicalJson(JSON.parse(r.ocsf)));
      if (r.sd !== null) expect(r.sd).toBe(canonicalJson(JSON.parse(r.sd)));
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
    await writeV2Records(db, 30);
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

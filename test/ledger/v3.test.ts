/**
 * Ledger format v3 (issue 18, docs/ledger-format.md "Version 3"): the real writer stores a corpus of
 * frames (RFC 5424, RFC 3164, JSON, unparsed, internal, LF/CRLF-terminated, invalid UTF-8, from
 * several connections), and
 *   - the view `ocsf_events` gives back, for every row, the event the normalizer made (today's `event`);
 *   - verify finds the ledger intact, and names the rows when a connection or a row is tampered with;
 *   - the views of 003/005/008 read v3 rows.
 */
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type CompiledQuery } from 'kysely';
import { migrate } from '../../src/db/migrate.js';
import { db as kdb } from '../../src/ledger/db.js';
import { SOURCE_PAIRS_SQL } from '../../src/monitoring/source-history.js';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { internalRecord } from '../../src/ledger/internal-record.js';
import type { LedgerRecord } from '../../src/ledger/types.js';
import { LEDGER_ROW_SELECT, ledgerRowFrom, verifyLedger } from '../../src/verify/verify.js';
import { selectRow, type DbRow } from '../../src/verify/select.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { ACTIVITIES, CATEGORIES, CLASSES, SEVERITY_NAMES, STATUS_NAMES } from '../../src/normalize/ocsf.js';
import { toRecord } from '../../src/stages.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { createTestDatabase, query } from '../helpers/db.js';
import { waitFor } from '../helpers/tls-client.js';

const CHAIN = 'v3';
const PEER_A: PeerIdentity = { cn: 'client1.example.com', sans: ['DNS:client1.example.com', 'IP:127.0.0.1'], subject: 'CN=client1.example.com,O=Example', fingerprint: 'ab'.repeat(32), address: '127.0.0.1:50001' };
const PEER_B: PeerIdentity = { cn: 'relp-client', sans: [], subject: 'CN=relp-client', fingerprint: 'cd'.repeat(32), address: '[::1]:50002', transport: 'relp' };
const PEER_C: PeerIdentity = { cn: null, sans: ['URI:spiffe://x/y'], subject: '', fingerprint: '', address: '' };

/** The corpus: [frame bytes, peer]. */
function corpus(): Array<[Buffer, PeerIdentity]> {
  const f: Array<[string | Buffer, PeerIdentity]> = [
    ['<134>1 2026-11-28T12:00:00.123456Z web-01.example.com billing-api 4242 ACCESS [request@32473 method="GET" path="/api/v1/orders" status="200"][origin ip="10.1.2.3"] user=alice bytes=123 req=1', PEER_A],
    ['<86>1 2026-11-28T12:00:00.123Z web-02.example.com auth-svc 77 AUDIT [audit@32473 user="bob" action="login" result="failure"] \u{FEFF}user bob changed record 2 from 10.0.0.1', PEER_A],
    ['<165>1 2026-11-28T14:00:00.5+02:00 host - - - - no structured data, offset time\n', PEER_A],
    ['<13>1 - - - - - -', PEER_A],
    ['<38>Nov 28 12:00:01 bastion sshd[1234]: Accepted publickey for alice from 10.9.8.7 port 51000 ssh2: ED25519 SHA256:abc', PEER_A],
    ['<38>Nov 28 12:00:02 bastion sshd[1235]: Failed password for invalid user mallory from 10.9.8.6 port 51001 ssh2\r\n', PEER_B],
    ['<86>Nov 28 12:00:03 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx', PEER_B],
    ['<86>Nov 28 12:00:04 bastion su[99]: (to root) alice on pts/1', PEER_B],
    ['<38>Nov 28 12:00:05 bastion sshd[1236]: pam_unix(sshd:session): session opened for user bob(uid=1001) by (uid=0)', PEER_C],
    ['{"@timestamp":"2026-11-28T12:00:06.000Z","host":"app-1","severity":"info","facility":"auth","tag":"sshd[77]:","message":"Failed password for bob from 10.0.0.9 port 3000 ssh2"}', PEER_A],
    ['{"timestamp":"2026-11-28T12:00:07Z","service":"orders","event_type":"update","user":"carol","resource":"order/7","action":"update","result":"success","source_ip":"10.0.0.7"}', PEER_A],
    ['not syslog at all \u00e9', PEER_A],
    ['<999>x', PEER_A],
    ['<13>1 2026-13-45T99:99:99Z h a - - - m', PEER_B],
    ['{"broken json', PEER_A],
    ['<13>1 - h a - - [bad sd m\n', PEER_C],
    [Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0x31, 0x20, 0x2d, 0x20, 0x68, 0x20, 0x61, 0x20, 0x2d, 0x20, 0x2d, 0x20, 0x2d, 0x20, 0xff, 0xfe, 0x00, 0x41]), PEER_A],
    ['<14>Nov 28 12:00:08 web-03 nginx: GET /index.html 200\n', PEER_C],
    ['<86>Nov 28 12:00:09 bastion useradd[500]: new user: name=eve, UID=1002, GID=1002, home=/home/eve, shell=/bin/bash', PEER_A],
    ['<13>1 2026-11-28T12:00:10Z h app - - [x@1 k="a\\"b"] message repeated 3 times: [ hello]', PEER_A],
    // An IPv6 source address (src_ip), and a frame larger than verify's 64 KB encoding buffer.
    ['<38>Nov 28 12:00:11 bastion sshd[1237]: Failed password for root from 2001:db8::7 port 51002 ssh2', PEER_B],
    [`<13>1 2026-11-28T12:00:12Z big app - - [x@1 k="v"] ${'y'.repeat(100_000)}`, PEER_C],
  ];
  return f.map(([b, p]) => [typeof b === 'string' ? Buffer.from(b, 'utf8') : b, p]);
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;

/** Runs a Kysely query (src/ledger/db.ts, the typed Database) on a short-lived connection. */
async function kq<R>(q: { compile(): CompiledQuery<R> }): Promise<R[]> {
  const c = q.compile();
  return query(db.url, c.sql, c.parameters as unknown[]) as Promise<R[]>;
}
const records: LedgerRecord[] = [];

beforeAll(async () => {
  db = await createTestDatabase('sl_v3');
  await migrate(db.url);
  const metrics = new Metrics({ defaultMetrics: false });
  const writer = new LedgerWriter({ databaseUrl: db.url, chain: CHAIN, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 7, queueMaxEvents: 10_000, queueMaxBytes: 64 << 20 });
  await writer.start();
  let us = Date.UTC(2026, 10, 28, 12, 0, 0) * 1000 + 123;
  for (let round = 0; round < 3; round++) {
    for (const [raw, peer] of corpus()) {
      const body = raw.subarray(0, raw.length - (raw.at(-1) === 10 ? (raw.at(-2) === 13 ? 2 : 1) : 0));
      const r = toRecord({ raw, body, truncated: false, framing: 'lf' }, peer, (us += 1001), { format: 'auto', timeZone: 'UTC' }, metrics);
      if (round === 1 && records.length % 5 === 0) (r.event as Record<string, unknown>).hostname_mismatch = true;
      records.push(r);
      writer.enqueue(r);
    }
    const finding = internalRecord({ class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, severity_id: 3, status_id: 0, time: 1, metadata: { product: { name: 'syslog-ledger' } }, message: 'a finding' }, { receivedAtUs: (us += 1), hostname: 'web-01', msgid: 'finding.test' });
    records.push(finding);
    writer.enqueue(finding);
  }
  await waitFor(async () => writer.head.seq === records.length, 20_000);
  await writer.close();
});

afterAll(async () => {
  await db?.drop();
});

describe('ledger format v3', () => {
  it('the view ocsf_events gives every row its event: same members, same values', async () => {
    const rows = await kq(
      kdb
        .selectFrom('ocsf_events as o')
        .innerJoin('ledger as l', (j) => j.onRef('l.chain', '=', 'o.chain').onRef('l.seq', '=', 'o.seq'))
        .select(['o.seq', 'o.event', sql<string>`CASE WHEN l.event IS NOT NULL THEN 'event' ELSE 'ocsf' END`.as('stored')])
        .where('o.chain', '=', CHAIN)
        .orderBy('o.seq'),
    );
    expect(rows).toHaveLength(records.length);
    for (const [i, r] of rows.entries()) {
      expect(canonicalJson(r.event), `seq ${r.seq}`).toBe(canonicalJson(records[i]!.event));
    }
    // Frames of every format stored split (not whole), so the comparison above tested the derivation.
    const split = rows.filter((r) => r.stored === 'ocsf').map((r) => records[Number(r.seq) - 1]!.format);
    for (const f of ['rfc5424', 'rfc3164', 'json', 'unparsed']) expect(split, f).toContain(f);
    expect(rows.filter((r) => records[Number(r.seq) - 1]!.format === 'internal').every((r) => r.stored === 'event')).toBe(true);
  });

  it('the read side\'s row select is one shape: LEDGER_ROW_SELECT (SQL text) gives what selectRow (Kysely, DbRow) gives, row for row', async () => {
    const text = await query<DbRow>(db.url, `${LEDGER_ROW_SELECT} FROM ${ledgerRowFrom()} WHERE l.chain = $1 ORDER BY l.seq`, [CHAIN]);
    const c = selectRow(kdb.selectFrom('ledger')).where('ledger.chain', '=', CHAIN).orderBy('ledger.seq').compile();
    const typed = (await query<DbRow & { message: string | null }>(db.url, c.sql, [...c.parameters])).map(({ message: _m, ...r }) => r);
    expect(text.length).toBe(records.length);
    expect(Object.keys(text[0]!).sort()).toEqual(Object.keys(typed[0]!).sort());
    for (const [i, r] of text.entries()) for (const [k, v] of Object.entries(r)) expect(v, `seq ${r.seq} ${k}`).toEqual((typed[i] as Record<string, unknown>)[k]);
    // Rows with a connection and without a stored event, and the one internal row that stores its event whole: both read.
    expect(text.every((r) => r.c_json !== null && r.conn !== null)).toBe(true);
  });

  it('stores each peer once per connection, with its transport, and no prev_hash, peer or syslog JSON in the rows', async () => {
    const conns = await query<{ conn: string; transport: string; peer_addr: string; peer_cn: string | null }>(db.url, 'SELECT conn, transport, peer_addr, peer_cn FROM ledger_connections WHERE chain = $1 ORDER BY conn', [CHAIN]);
    expect(conns.map((c) => [c.transport, c.peer_addr])).toEqual([
      ['tls', '127.0.0.1:50001'],
      ['relp', '[::1]:50002'],
      ['tls', ''],
      ['internal', 'internal'],
    ]);
    const [n] = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM ledger WHERE prev_hash IS NOT NULL OR peer_cn IS NOT NULL OR peer_sans IS NOT NULL OR peer_addr IS NOT NULL OR syslog IS NOT NULL OR conn IS NULL');
    expect(n!.n).toBe(0);
    // The rows of one connection: WHERE conn = ...
    const [b] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM ledger l JOIN ledger_connections c USING (chain, conn) WHERE c.transport = 'relp'`);
    expect(b!.n).toBe(records.filter((r) => r.peer === PEER_B).length);
  });

  it('verify: intact, then a tampered connection fails exactly its rows, and a removed row breaks the next', async () => {
    for (const workers of [0, 2]) {
      const ok = await verifyLedger(db.url, { workers, rangeSeqs: 5 });
      expect(ok.findings).toEqual([]);
      expect(ok.rows).toBe(records.length);
      expect(ok.rechecked).toBe(0);
    }
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query('ALTER TABLE ledger_connections DISABLE TRIGGER USER');
      await c.query(`UPDATE ledger_connections SET peer_cn = 'attacker' WHERE transport = 'relp'`);
      const bad = await verifyLedger(db.url, { workers: 0, rangeSeqs: 5 });
      const want = records.map((r, i) => (r.peer === PEER_B ? i + 1 : 0)).filter((s) => s > 0);
      expect(bad.findings.map((f) => f.seq)).toEqual(want);
      expect(new Set(bad.findings.map((f) => f.kind))).toEqual(new Set(['hash_mismatch']));
      expect(bad.findings[0]!.detail).toMatch(/conn/);
      await c.query(`UPDATE ledger_connections SET peer_cn = 'relp-client' WHERE transport = 'relp'`);
      await c.query('ALTER TABLE ledger DISABLE TRIGGER USER');
      await c.query('DELETE FROM ledger WHERE chain = $1 AND seq = 10', [CHAIN]);
      const gap = await verifyLedger(db.url, { workers: 0, rangeSeqs: 5 });
      expect(gap.findings.map((f) => [f.seq, f.kind])).toEqual([[11, 'seq_gap'], [11, 'hash_mismatch']]);
    } finally {
      await c.end();
    }
  });

  it('the views of 003/005/008 read v3 rows', async () => {
    const fl = await query<{ seq: string; peer_cn: string; user_name: string; message: string }>(db.url, 'SELECT seq, peer_cn, user_name, message FROM failed_logins ORDER BY seq');
    expect(fl.length).toBeGreaterThan(0);
    for (const r of fl) {
      const rec = records[Number(r.seq) - 1]!;
      expect(r.peer_cn).toBe(rec.peer.cn);
      expect(r.message).toBe(rec.event.message);
    }
    const hm = await query<{ seq: string; message: string }>(db.url, 'SELECT seq, message FROM hostname_mismatches ORDER BY seq');
    expect(hm.map((r) => Number(r.seq))).toEqual(records.flatMap((r, i) => ((r.event as Record<string, unknown>).hostname_mismatch ? [i + 1] : [])));
    const src = await query<{ peer_cn: string | null }>(db.url, 'SELECT peer_cn FROM source_last_event');
    expect(new Set(src.map((r) => r.peer_cn))).toEqual(new Set(['client1.example.com', 'relp-client', null, 'syslog-ledger']));
  });

  it('the SQL captions agree with src/normalize/ocsf.ts', async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      for (const [k, v] of Object.entries(CLASSES)) {
        const r = (await c.query('SELECT ocsf_class_name($1) AS n, ocsf_category_uid($1) AS c, ocsf_category_name(ocsf_category_uid($1)) AS cn', [Number(k)])).rows[0];
        expect(r).toEqual({ n: v.name, c: v.category, cn: CATEGORIES[v.category] });
      }
      for (const [k, acts] of Object.entries(ACTIVITIES)) {
        for (const a of [0, 99, ...Object.keys(acts).map(Number)]) {
          const r = (await c.query('SELECT ocsf_activity_name($1, $2) AS n', [Number(k), a])).rows[0];
          expect(r.n).toBe(acts[a] ?? (a === 0 ? 'Unknown' : 'Other'));
        }
      }
      for (const [k, v] of Object.entries(SEVERITY_NAMES)) expect((await c.query('SELECT ocsf_severity_name($1) AS n', [Number(k)])).rows[0].n).toBe(v);
      for (const [k, v] of Object.entries(STATUS_NAMES)) expect((await c.query('SELECT ocsf_status_name($1) AS n', [Number(k)])).rows[0].n).toBe(v);
    } finally {
      await c.end();
    }
  });

  it('indexes: each documented query uses its index (EXPLAIN), and none costs over 40 bytes per event but the named ones', async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      // 50,000 v3-shaped rows (not a hash chain: this test reads plans and sizes only) on 20 connections.
      const t0 = '2026-12-01T00:00:00Z';
      await c.query(`INSERT INTO ledger_connections SELECT 'bulk', i, 'tls', '10.0.0.' || i || ':5000', 'client-' || i, '{}', '', '' FROM generate_series(1, 20) i`);
      await c.query(
        `INSERT INTO ledger (chain, seq, received_at, conn, format, truncated, raw, facility, severity, hostname, app_name, class_uid, activity_id,
                             status_id, severity_id, user_name, event_time, ocsf, hash)
         SELECT 'bulk', i, $1::timestamptz + i * interval '10 milliseconds', 1 + (i % 20), 'rfc5424', false, '\\x3c31333e', 1, 6, 'host-' || (i % 40), 'app',
                CASE WHEN i % 50 = 0 THEN 3002 ELSE 0 END, 1, CASE WHEN i % 100 = 0 THEN 2 ELSE 1 END, 1,
                CASE WHEN i % 50 = 0 THEN 'user' || (i % 7) END, $1::timestamptz + i * interval '10 milliseconds', '{}', sha256(int4send(i))
           FROM generate_series(1, 50000) i`,
        [t0],
      );
      await c.query('ANALYZE ledger');
      await c.query('ANALYZE ledger_connections');
      const plan = async (text: string, values: unknown[] = []): Promise<string> =>
        JSON.stringify((await c.query(`EXPLAIN (FORMAT JSON) ${text}`, values)).rows[0]['QUERY PLAN']);
      // serve's source history and source_last_event: the (conn, host) skip scan.
      const src = await plan(SOURCE_PAIRS_SQL, ['2026-12-01T00:00:00Z', '2026-12-01T00:10:00Z', 'syslog-ledger', 1001]);
      expect(src).toContain('ledger_default_conn_coalesce_received_at_idx');
      expect(src).not.toMatch(/"Seq Scan","Parent Relationship":"[^"]*","Parallel Aware":false,"Async Capable":false,"Relation Name":"ledger_default"/);
      // failed_logins (and the other views of classes other than 0): the partial class index.
      expect(await plan('SELECT * FROM failed_logins')).toContain('ledger_default_class_uid_status_id_event_time_idx');
      // A time range: BRIN on received_at.
      expect(await plan(`SELECT count(*) FROM ledger WHERE received_at >= $1::timestamptz AND received_at < $1::timestamptz + interval '2 seconds'`, [t0])).toContain('ledger_default_received_at_idx');
      // One row's full event (prove, a reader): the primary key.
      expect(await plan(`SELECT event FROM ocsf_events WHERE chain = 'bulk' AND seq = 777`)).toContain('ledger_default_pkey');
      // Bytes per event of each index of the partition.
      const sizes = (
        await c.query<{ name: string; bytes: string }>(
          `SELECT c.relname AS name, pg_relation_size(c.oid) AS bytes FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'ledger_default'::regclass`,
        )
      ).rows;
      const rows = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM ledger_default')).rows[0]!.n);
      const per = Object.fromEntries(sizes.map((x) => [x.name, Number(x.bytes) / rows]));
      // Named in docs/ledger-format.md ("Indexes") with the queries that pay for them.
      const named = new Set(['ledger_default_pkey', 'ledger_default_conn_coalesce_received_at_idx']);
      for (const [name, b] of Object.entries(per)) if (!named.has(name)) expect(b, name).toBeLessThanOrEqual(40);
      expect(per.ledger_default_received_at_idx!).toBeLessThan(1);
      expect(per.ledger_default_coalesce_coalesce1_received_at_seq_idx ?? 0, 'the legacy source index is empty for v3 rows').toBeLessThan(1);
    } finally {
      await c.end();
    }
  });
});

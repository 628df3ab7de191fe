/**
 * Canonical form version 2: the row hash covers the lifted filter columns too (docs/ledger-format.md).
 * The writer stores exactly the values it hashed (ledgerColumns: event_time as UTC microseconds, a
 * year PostgreSQL refuses as NULL, src_ip as the bytes PostgreSQL keeps), verify checks a version 2
 * row by its hash alone, and a chain that holds version 1 rows (written before) then version 2 rows
 * verifies on the fast path, each row in its own version.
 */
import fc from 'fast-check';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalLifted, ledgerColumns } from '../../src/ledger/canonical.js';
import { inetBytes, inetText } from '../../src/ledger/inet.js';
import { readChain, recomputeHash, verifyLedger } from '../../src/verify/verify.js';
import { LedgerWriter } from '../../src/ledger/writer.js';
import { Metrics } from '../../src/metrics/registry.js';
import { ingest } from '../redact/helpers.js';
import { appendCanonicalRows, createDb, tamper, type TestDb } from './helpers.js';

const CHAIN = 'v2-chain';
let db: TestDb | undefined;

afterEach(async () => {
  await db?.drop();
  db = undefined;
});

const kinds = (r: Awaited<ReturnType<typeof verifyLedger>>): string[] => r.findings.map((f) => `${f.seq} ${f.kind}`);

describe('canonical form version 2', () => {
  it('the writer hashes the lifted columns as it stores them, odd values included, and verify needs no recheck', async () => {
    db = await createDb('sl_v2');
    const metrics = new Metrics({ defaultMetrics: false });
    const writer = new LedgerWriter({ databaseUrl: db.url, chain: CHAIN, metrics, log: pino({ level: 'silent' }), batchMaxEvents: 16, queueMaxEvents: 1000, queueMaxBytes: 1 << 20 });
    await writer.start();
    const lines = [
      // Year 0000: PostgreSQL's timestamptz refuses it, so event_time is stored (and hashed) as NULL.
      '<13>0000-01-01T00:00:00Z bastion sshd[7]: Failed password for root from 2001:DB8:0:0::A port 22 ssh2',
      // Nine fractional digits: the six PostgreSQL keeps (truncated, as the hash has them).
      '{"@timestamp":"2026-11-28T12:00:00.123456789+01:00","host":"app-1","tag":"app:","message":"export"}',
      '<38>Nov 28 12:00:01 bastion sshd[1001]: Failed password for invalid user admin from ::ffff:203.0.113.9 port 40000 ssh2',
      '<134>1 2026-11-28T12:00:00.5Z web-1 nginx 42 ACCESS - GET /x',
    ];
    for (const l of lines) writer.enqueue(ingest(l, { metrics }).after);
    await writer.close();

    const stored = (await db.pool.query<{ seq: string; event_time: string | null; src_ip: string | null }>(
      `SELECT seq, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS event_time, abbrev(src_ip) AS src_ip FROM ledger WHERE chain = $1 ORDER BY seq`,
      [CHAIN],
    )).rows;
    expect(stored.map((r) => [r.event_time, r.src_ip])).toEqual([
      [null, '2001:db8::a'],
      ['2026-11-28T11:00:00.123456', null],
      ['2026-11-28T12:00:01.000000', '::ffff:203.0.113.9'],
      ['2026-11-28T12:00:00.500000', null],
    ]);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      for await (const batch of readChain(c, CHAIN)) for (const r of batch) expect(recomputeHash(r.prevHash, r).version).toBe(3);
    } finally {
      await c.end();
    }
    const report = await verifyLedger(db.url, { workers: 0 });
    expect(kinds(report)).toEqual([]);
    expect(report.rechecked).toBe(0);
  });

  it('a chain of version 1 rows then version 2 rows verifies on the fast path; a changed column is caught in each', async () => {
    db = await createDb('sl_v2_mixed');
    await appendCanonicalRows(db.pool, CHAIN, 40, 1);
    await appendCanonicalRows(db.pool, CHAIN, 40, 2);
    const intact = await verifyLedger(db.url, { workers: 0 });
    expect(kinds(intact)).toEqual([]);
    expect(intact.rows).toBe(80);
    expect(intact.rechecked).toBe(0);

    await tamper(db.pool, 'ledger', `UPDATE ledger SET user_name = 'mallory' WHERE chain = $1 AND seq IN (10, 50)`, [CHAIN]);
    await tamper(db.pool, 'ledger', `UPDATE ledger SET src_ip = set_masklen(src_ip, 64) WHERE chain = $1 AND seq IN (11, 51)`, [CHAIN]);
    const changed = await verifyLedger(db.url, { workers: 0 });
    // Version 1: the hash does not cover the columns; they disagree with the event. Version 2: the hash says so too.
    expect(kinds(changed)).toEqual(['10 column_mismatch', '11 column_mismatch', '50 hash_mismatch', '50 column_mismatch', '51 hash_mismatch', '51 column_mismatch']);
    expect(changed.findings.find((f) => f.seq === 51 && f.kind === 'column_mismatch')?.detail).toMatch(/src_ip/);
  });

  it('src_ip bytes: PostgreSQL reads inetText() back to the same address, and abbrev() text to the same bytes', async () => {
    db = await createDb('sl_v2_inet');
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const v6 = fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => Buffer.from([6, 128, ...g.flatMap((x) => [x >> 8, x & 0xff])]));
    const v4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((a) => Buffer.from([4, 32, ...a]));
    const samples = fc.sample(fc.oneof(v4, v6), 300);
    const texts = samples.map(inetText);
    for (const [i, t] of texts.entries()) expect(inetBytes(t)).toEqual(samples[i]);
    const { rows } = await db.pool.query<{ t: string; a: string }>('SELECT t, abbrev(t::inet) AS a FROM unnest($1::text[]) AS t', [texts]);
    for (const [i, r] of rows.entries()) expect(inetBytes(r.a)).toEqual(samples[i]);
    for (const t of ['10.0.0.1/8', '2001:db8::/32', '::ffff:1.2.3.4', '1::', '::', '1:2:3:4:5:6:7:8']) {
      const a = (await db.pool.query<{ a: string }>('SELECT abbrev($1::inet) AS a', [t])).rows[0]!.a;
      expect(inetBytes(a)).toEqual(inetBytes(t));
    }
    for (const bad of ['1.2.3', '1.2.3.256', '1:2:3:4:5:6:7:8:9', '1::2::3', '::1.2.3.4:5', 'fe80::1%eth0', '10.0.0.1/33', '']) expect(inetBytes(bad)).toBeNull();
  });

  it('ledgerColumns: the stored text reads back (canonicalLifted) to the values it hashes', () => {
    const base = { hostname: 'h', app_name: 'a', class_uid: 3002, activity_id: 1, status_id: 2, severity_id: 3, user_name: 'u', actor_user: null };
    const cases = [
      ['0000-12-31T23:59:59Z', 'FE80::1', null, 'fe80::1'],
      ['9999-12-31T23:59:59.9999999-01:00', '1.2.3.4', null, '1.2.3.4'],
      ['2024-02-29T00:00:00.1+14:00', null, '2024-02-28T10:00:00.100000Z', null],
      ['1969-12-31T23:59:59.999999Z', '::', '1969-12-31T23:59:59.999999Z', '::'],
      ['2026-11-28T12:00:00.123456789+01:00', '::FFFF:10.0.0.1', '2026-11-28T11:00:00.123456Z', '::ffff:a00:1'],
    ] as const;
    for (const [event_time, src_ip, storedTime, storedIp] of cases) {
      const { columns, lifted } = ledgerColumns({ ...base, event_time, src_ip });
      expect([columns.event_time, columns.src_ip]).toEqual([storedTime, storedIp]);
      expect(lifted).not.toBeNull();
      expect(canonicalLifted(columns)).toEqual(lifted);
    }
  });
});

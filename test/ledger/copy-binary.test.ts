/**
 * The writer's fast v3 path against its references: storedJson against canonicalJson(splitEvent(...)); the binary COPY (CopyBuffer, written from the canonical tail)
 * decoded field by field back to the row's values, the inline and the prepared path giving the same
 * bytes, and PostgreSQL reading it as the same rows as the text COPY of the same values. Over frames
 * that needed COPY escapes, non-ASCII text, JSON frames, unparsed and internal records, NULLs, IPv4
 * and IPv6 source addresses and times before PostgreSQL's epoch (2000).
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { CopyBuffer } from '../../src/ledger/copy-binary.js';
import { copyValue, decodeBinary, encodeV3Tail, SQL_TYPE, V3_COLUMNS, V3_COPY_COLUMNS, v3TailMaxSize, type V3Values } from '../../src/ledger/row.js';
import { sha256 } from '../../src/ledger/sha256.js';
import { encodeV3 } from '../../src/ledger/row.js';
import copyStreams from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createTestDatabase } from '../helpers/db.js';
import { internalRecord } from '../../src/ledger/internal-record.js';
import { ZERO_HASH, type LedgerRecord } from '../../src/ledger/types.js';
import { bodyEnd, chainConnection, chainRecordV3Into, deriveEvent, splitEvent, storedJson, v3Values } from '../../src/ledger/v3.js';
import type { PeerIdentity } from '../../src/listener/identity.js';
import { Metrics } from '../../src/metrics/registry.js';
import type { OcsfEvent } from '../../src/normalize/types.js';
import { toRecord } from '../../src/stages.js';

const PEER: PeerIdentity = { cn: 'client\t1', sans: ['DNS:a\\b', 'IP:127.0.0.1'], subject: 'CN=client\n1', fingerprint: 'ab'.repeat(32), address: '127.0.0.1:5000' };
const FRAMES = [
  '<134>1 2026-11-28T12:00:00.123456Z web-01 billing-api 4242 ACCESS [request@32473 method="GET" path="/a\\\\b"] user=alice\ttab bytes=123',
  '<38>Nov 28 12:00:01 bastion sshd[1234]: Accepted publickey for alice from 10.9.8.7 port 51000 ssh2',
  '<86>Nov 28 12:00:03 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/printf a\\nb',
  '{"@timestamp":"2026-11-28T12:00:06.000Z","host":"app-1","severity":"info","tag":"sshd[77]:","message":"Failed password for bob from 10.0.0.9 port 3000 ssh2","x":{"b":1,"a":[1,"\\u0001",{"z":null}]}}',
  '{"timestamp":"2026-11-28T12:00:07Z","service":"orders","user":"c\\\\arol","source_ip":"fe80::1","nested":{"k\\tey":"v\\r\\n"}}',
  'not syslog at all \u00e9 \u{1F600} \\ back',
  '<13>1 - h a - - [bad sd m\r\n',
  '<13>1 2026-11-28T12:00:10Z h\u00e9 app 12 id [x@1 k="a\\"b" u="\u00fc"] message \u2028 repeated',
];

function records(): LedgerRecord[] {
  const metrics = new Metrics({ defaultMetrics: false });
  const out = FRAMES.map((f, i) => {
    const raw = Buffer.from(f, 'utf8');
    const body = raw.subarray(0, bodyEnd(raw));
    return toRecord({ raw, body, truncated: i === 2, framing: 'octet-counted' }, PEER, 1_764_331_200_000_000 + i * 17, { format: 'auto', timeZone: 'UTC' }, metrics);
  });
  const bad = Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0x31, 0x20, 0x2d, 0x20, 0x68, 0x20, 0x61, 0x20, 0x2d, 0x20, 0x2d, 0x20, 0x2d, 0x20, 0xff, 0xfe, 0x00, 0x5c, 0x09]);
  out.push(toRecord({ raw: bad, body: bad, truncated: false, framing: 'lf' }, PEER, 1_764_331_200_000_999, { format: 'auto', timeZone: 'UTC' }, metrics));
  const finding = { class_uid: 2004, activity_id: 1, severity_id: 3, status_id: 0, message: 'finding\twith\\escapes', metadata: { product: { name: 'syslog-ledger' } } } as unknown as OcsfEvent;
  out.push(internalRecord(finding, { hostname: 'srv', appName: 'syslog-ledger', msgid: 'FINDING', receivedAtUs: 1_764_331_200_001_000 } as never));
  return out;
}

describe('v3 fast path', () => {
  it('storedJson writes canonicalJson(splitEvent(...)), or null when splitEvent does', () => {
    const conn = chainConnection(1, PEER);
    let split = 0;
    for (const r of records()) {
      if (r.format === 'internal') continue;
      const { values: v } = v3Values(r, 'c', 1, conn);
      const message = v.msg_at === null ? null : (r.event.message as string);
      const derived = deriveEvent(v, conn.record, message);
      const rawData = typeof r.event.raw_data === 'string' ? r.event.raw_data : undefined;
      const ref = splitEvent(r.event, derived, rawData);
      expect(storedJson(r.event, v, conn.record, message, rawData)).toBe(ref === null ? null : canonicalJson(ref));
      const refNoMessage = splitEvent(r.event, deriveEvent(v, conn.record, null), rawData);
      expect(storedJson(r.event, v, conn.record, null, rawData)).toBe(refNoMessage === null ? null : canonicalJson(refNoMessage));
      // and with raw_data not matching the body: stored
      const ref2 = splitEvent(r.event, derived, undefined);
      expect(storedJson(r.event, v, conn.record, message, undefined)).toBe(ref2 === null ? null : canonicalJson(ref2));
      if (ref !== null) split++;
    }
    expect(split).toBeGreaterThan(5);
  });

  it('storedJson gives what splitEvent gives, over the fixture corpora', () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const conn = chainConnection(1, PEER);
    const dir = new URL('../fixtures/', import.meta.url);
    const lines = [
      ...readFileSync(new URL('real/beats-system-auth-test.log', dir), 'utf8').split('\n'),
      ...readFileSync(new URL('real/go-libaudit-auditd.log', dir), 'utf8').split('\n'),
      ...['rfc5424', 'rfc3164'].flatMap((f) => readFileSync(new URL(`parser-cases/${f}.jsonl`, dir), 'utf8').split('\n').filter(Boolean).map((l) => String((JSON.parse(l) as { input?: unknown }).input ?? ''))),
    ].filter(Boolean);
    let stored = 0;
    for (const [i, line] of lines.entries()) {
      const raw = Buffer.from(line, 'utf8');
      const r = toRecord({ raw, body: raw, truncated: false, framing: 'lf' }, PEER, 1_764_331_200_000_000 + i, { format: 'auto', timeZone: 'UTC' }, metrics);
      const { values: v } = v3Values(r, 'c', 1, conn);
      const message = v.msg_at === null ? null : (r.event.message as string);
      const rawData = typeof r.event.raw_data === 'string' ? r.event.raw_data : undefined;
      const split = splitEvent(r.event, deriveEvent(v, conn.record, message), rawData);
      const ref = split === null ? null : canonicalJson(split);
      expect(storedJson(r.event, v, conn.record, message, rawData), line).toBe(ref);
      if (ref !== null) stored++;
    }
    expect(lines.length).toBeGreaterThan(300);
    expect(stored).toBeGreaterThan(lines.length / 2);
  });

  it('storedJson: members that differ, are undefined or missing', () => {
    const conn = chainConnection(1, PEER);
    const r = records()[0]!;
    const { values: v } = v3Values(r, 'c', 1, conn);
    const derived = deriveEvent(v, conn.record, r.event.message as string);
    const variants: Array<Record<string, unknown>> = [
      { ...r.event, device: { hostname: 'other' } },
      { ...r.event, device: { hostname: v.hostname, extra: undefined } },
      { ...r.event, metadata: { ...(r.event.metadata as object), product: { name: 'x', f: () => 1 } } },
      { ...r.event, metadata: { ...(r.event.metadata as object), zz: () => 1 } },
      { ...r.event, unmapped: 'not an object' },
      { ...r.event, metadata: undefined },
      { ...r.event, severity: undefined },
      { ...r.event, time: -0, extra: [undefined, NaN, { b: 2, a: 1 }] },
      { ...r.event, class_name: () => 1 },
      { ...r.event, message: undefined },
      { ...r.event, metadata: { ...(r.event.metadata as object), version: undefined } },
      { ...r.event, metadata: { ...(r.event.metadata as object), version: '9.9.9' } },
      { ...r.event, unmapped: JSON.parse('{"__proto__":{},"constructor":{}}') },
      { ...r.event, device: { hostname: v.hostname } },
    ];
    for (const e of variants) {
      const ref = splitEvent(e as OcsfEvent, derived, undefined);
      expect(storedJson(e as OcsfEvent, v, conn.record, r.event.message as string, undefined)).toBe(ref === null ? null : canonicalJson(ref));
    }
  });
});

/** The rows of records() as the writer chains them: values (hash included), in order. */
function chained(recs: readonly LedgerRecord[], chain = 'chain\\x', edge = true): V3Values[] {
  const conn = chainConnection(1, PEER);
  let prev = ZERO_HASH;
  return recs.map((r, i) => {
    const { values } = v3Values(r, chain, i + 1, conn);
    // Times before 2000-01-01 (negative in PostgreSQL's epoch), and both address families.
    if (edge && i === 1) values.event_time = -1_234_567;
    if (edge && i === 2) values.src_ip = '2001:db8::7';
    if (edge && i === 3) values.src_ip = '10.1.2.3';
    values.hash = prev = sha256(encodeV3(prev, values, conn.bytes));
    return values;
  });
}

/** The rows of a binary COPY stream, decoded with verify's decoder (decodeBinary). */
function decode(data: Buffer): Array<Record<string, unknown>> {
  expect(data.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
  expect(data.readInt32BE(11)).toBe(0);
  expect(data.readInt32BE(15)).toBe(0);
  let r = 19;
  const rows: Array<Record<string, unknown>> = [];
  for (;;) {
    const n = data.readInt16BE(r);
    r += 2;
    if (n === -1) break;
    expect(n).toBe(V3_COLUMNS.length);
    const row: Record<string, unknown> = {};
    for (const c of V3_COLUMNS) {
      const len = data.readInt32BE(r);
      row[c.name] = decodeBinary(c.kind, data, r + 4, len);
      r += 4 + Math.max(0, len);
    }
    rows.push(row);
  }
  expect(r).toBe(data.length);
  return rows;
}

describe('binary COPY of v3 rows', () => {
  it('decodes back to every value of every row; inline and prepared paths write the same bytes', () => {
    const recs = records();
    const rows = chained(recs);
    const inline = new CopyBuffer();
    const prepared = new CopyBuffer();
    for (const v of rows) {
      inline.row(v);
      const tail = Buffer.alloc(v3TailMaxSize(v));
      prepared.linked(v.chain, v.seq, v.received_at, v.conn, tail, 0, encodeV3Tail(v, tail, 0), v.hash);
    }
    const a = Buffer.concat(inline.take());
    expect(a.equals(Buffer.concat(prepared.take()))).toBe(true);
    const back = decode(a);
    expect(back).toHaveLength(rows.length);
    back.forEach((row, i) => expect(row).toEqual({ ...rows[i]! }));
    // The writer's own inline path, through chainRecordV3Into: the same bytes again.
    const conn = chainConnection(1, PEER);
    const out = new CopyBuffer();
    let prev = ZERO_HASH;
    recs.forEach((r, i) => (prev = chainRecordV3Into(r, 'c', i + 1, prev, conn, out).hash));
    const ref = new CopyBuffer();
    for (const v of chained(recs, 'c', false)) ref.row(v);
    expect(Buffer.concat(out.take()).equals(Buffer.concat(ref.take()))).toBe(true);
  });

  it('spans chunks, starts each batch with the header and ends it with the trailer; discard() and an empty take()', () => {
    const recs = records();
    const rows = chained(recs);
    const out = new CopyBuffer();
    out.row(rows[0]!);
    out.discard();
    expect(out.take()).toEqual([]);
    for (let i = 0; i < 3000; i++) out.row(rows[i % rows.length]!);
    const chunks = out.take();
    expect(chunks.length).toBeGreaterThan(1);
    expect(decode(Buffer.concat(chunks))).toHaveLength(3000);
    out.row(rows[1]!);
    expect(decode(Buffer.concat(out.take()))).toEqual([{ ...rows[1]! }]);
  });

  describe('PostgreSQL', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => {
      db = await createTestDatabase('sl_copybin');
    }, 60_000);
    afterAll(async () => db?.drop());

    it('reads the binary rows as the same rows as the text COPY of the same values', async () => {
      const rows = chained(records());
      const c = new pg.Client(db.url);
      await c.connect();
      try {
        const cols = V3_COLUMNS.map((x) => `${x.name} ${SQL_TYPE[x.kind]}`).join(', ');
        await c.query(`CREATE TABLE bin (${cols})`);
        await c.query(`CREATE TABLE txt (${cols})`);
        const out = new CopyBuffer();
        for (const v of rows) out.row(v);
        await pipeline(Readable.from(out.take()), c.query(copyStreams.from(`COPY bin (${V3_COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`)));
        const text = rows.map((v) => `${V3_COLUMNS.map((x) => copyValue(x.kind, (v as Record<string, unknown>)[x.name])).join('\t')}\n`).join('');
        await pipeline(Readable.from([Buffer.from(text)]), c.query(copyStreams.from(`COPY txt (${V3_COPY_COLUMNS.join(', ')}) FROM STDIN`)));
        const as = (t: string): string => V3_COLUMNS.map((x) => `${t}.${x.name}${x.kind === 'json' ? '::text' : ''}`).join(', ');
        const n = await c.query(`SELECT count(*)::int AS n FROM bin JOIN txt USING (seq)`);
        expect(n.rows[0].n).toBe(rows.length);
        const differ = await c.query(`SELECT bin.seq FROM bin JOIN txt USING (seq) WHERE ROW(${as('bin')}) IS DISTINCT FROM ROW(${as('txt')})`);
        expect(differ.rows).toEqual([]);
        const early = await c.query(`SELECT event_time = '1969-12-31T23:59:58.765433Z'::timestamptz AS ok FROM bin WHERE seq = 2`);
        expect(early.rows[0].ok).toBe(true);
      } finally {
        await c.end();
      }
    });
  });
});

/**
 * The writer's fast v3 path against its reference, byte for byte: splitEventJson against
 * canonicalJson(splitEvent(...)), and chainRecordV3Into (COPY bytes written straight into chunks)
 * against chainRecordV3 + copyChunks (the COPY line as a string, then UTF-8). Same hash, same bytes,
 * over frames that need COPY escapes, non-ASCII text, JSON frames, unparsed and internal records.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ledger/canonical.js';
import { copyChunks } from '../../src/ledger/copy.js';
import { CopyBuffer } from '../../src/ledger/copy-v3.js';
import { internalRecord } from '../../src/ledger/internal-record.js';
import { ZERO_HASH, type LedgerRecord } from '../../src/ledger/types.js';
import { bodyEnd, chainConnection, chainRecordV3, chainRecordV3Into, deriveEvent, splitEvent, splitEventJson, v3Values } from '../../src/ledger/v3.js';
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
  const finding = { class_uid: 2004, activity_id: 1, severity_id: 3, message: 'finding\twith\\escapes', metadata: { product: { name: 'syslog-ledger' } } } as unknown as OcsfEvent;
  out.push(internalRecord(finding, { hostname: 'srv', appName: 'syslog-ledger', msgid: 'FINDING', receivedAtUs: 1_764_331_200_001_000 } as never));
  return out;
}

describe('v3 fast path', () => {
  it('splitEventJson writes canonicalJson(splitEvent(...)), or null when splitEvent does', () => {
    const conn = chainConnection(1, PEER);
    let split = 0;
    for (const r of records()) {
      if (r.format === 'internal') continue;
      const { values: v } = v3Values(r, 'c', 1, conn);
      const message = v.msg_at === null ? null : (r.event.message as string);
      const derived = deriveEvent(v, conn.record, message);
      const rawData = typeof r.event.raw_data === 'string' ? r.event.raw_data : undefined;
      const ref = splitEvent(r.event, derived, rawData);
      expect(splitEventJson(r.event, derived, rawData)).toBe(ref === null ? null : canonicalJson(ref));
      // and with raw_data not matching the body: stored
      const ref2 = splitEvent(r.event, derived, undefined);
      expect(splitEventJson(r.event, derived, undefined)).toBe(ref2 === null ? null : canonicalJson(ref2));
      if (ref !== null) split++;
    }
    expect(split).toBeGreaterThan(5);
  });

  it('splitEventJson: members that differ, are undefined or missing', () => {
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
    ];
    for (const e of variants) {
      const ref = splitEvent(e as OcsfEvent, derived, undefined);
      expect(splitEventJson(e as OcsfEvent, derived, undefined)).toBe(ref === null ? null : canonicalJson(ref));
    }
  });

  it('chainRecordV3Into: same rows, hashes and COPY bytes as chainRecordV3 + copyChunks', () => {
    const recs = records();
    const conn = chainConnection(1, PEER);
    const out = new CopyBuffer();
    let prevA = ZERO_HASH;
    let prevB = ZERO_HASH;
    const lines: string[] = [];
    for (let i = 0; i < recs.length; i++) {
      const a = chainRecordV3(recs[i]!, 'chain\\x', i + 1, prevA, conn);
      const b = chainRecordV3Into(recs[i]!, 'chain\\x', i + 1, prevB, conn, out);
      expect(b.hash.toString('hex')).toBe(a.row.hash.toString('hex'));
      expect(b.columns).toEqual(a.row.columns);
      lines.push(a.line);
      prevA = a.row.hash;
      prevB = b.hash;
    }
    expect(Buffer.concat(out.take()).toString('latin1')).toBe(Buffer.concat(copyChunks(lines)).toString('latin1'));
    expect(out.take()).toEqual([]);
  });

  it('CopyBuffer: rows across chunk boundaries, and discard() drops a half-written batch', () => {
    const recs = records();
    const conn = chainConnection(1, PEER);
    const out = new CopyBuffer();
    out.row(v3Values(recs[0]!, 'x', 1, conn).values);
    out.discard();
    const lines: string[] = [];
    let prev = ZERO_HASH;
    for (let i = 0; i < 3000; i++) {
      const r = recs[i % recs.length]!;
      const a = chainRecordV3(r, 'c', i + 1, prev, conn);
      chainRecordV3Into(r, 'c', i + 1, prev, conn, out);
      lines.push(a.line);
      prev = a.row.hash;
    }
    const chunks = out.take();
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(Buffer.concat(copyChunks(lines)))).toBe(true);
  });
});

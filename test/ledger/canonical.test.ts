import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalJson, chainHash, type CanonicalLifted, type CanonicalRow } from '../../src/ledger/canonical.js';
import { ZERO_HASH } from '../../src/ledger/types.js';

interface Vector {
  description: string;
  prev_hash: string;
  row: Omit<CanonicalRow, 'raw' | 'lifted'> & { raw_hex: string; lifted?: Omit<CanonicalLifted, 'srcIp'> & { src_ip_hex: string | null } };
  canonical_hex: string;
  hash: string;
}

const vectors = JSON.parse(readFileSync(new URL('../fixtures/canonical-vectors.json', import.meta.url), 'utf8')) as Vector[];

/** An independent encoder written from docs/ledger-format.md, to catch drift between code and spec. */
function specEncode(r: CanonicalRow): Buffer {
  const l = r.lifted;
  const parts: Buffer[] = [Buffer.from(l === undefined ? 'SLR1' : 'SLR2')];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const str = (s: string | null): void => {
    if (s === null) parts.push(u32(0xffffffff));
    else {
      const b = Buffer.from(s, 'utf8');
      parts.push(u32(b.length), b);
    }
  };
  str(r.chain);
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(BigInt(r.seq));
  const us = Buffer.alloc(8);
  us.writeBigInt64BE(BigInt(r.receivedAtUs));
  parts.push(seq, us);
  str(r.peerCn);
  parts.push(u32(r.peerSans.length));
  r.peerSans.forEach(str);
  str(r.peerAddr);
  str(r.format);
  parts.push(Buffer.from([r.truncated ? 1 : 0]));
  str(r.parseError);
  parts.push(u32(r.raw.length), r.raw);
  str(r.syslogJson);
  str(r.eventJson);
  if (l !== undefined) {
    const i64 = Buffer.alloc(8);
    if (l.eventTimeUs !== null) i64.writeBigInt64BE(BigInt(l.eventTimeUs));
    parts.push(l.eventTimeUs === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), i64]));
    str(l.hostname);
    str(l.appName);
    for (const n of [l.classUid, l.activityId, l.statusId, l.severityId]) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      parts.push(b);
    }
    str(l.userName);
    str(l.actorUser);
    parts.push(l.srcIp === null ? Buffer.from([0]) : Buffer.from(l.srcIp));
  }
  return Buffer.concat(parts);
}

const toRow = (v: Vector): CanonicalRow => {
  const { lifted, raw_hex, ...rest } = v.row;
  const row: CanonicalRow = { ...rest, raw: Buffer.from(raw_hex, 'hex') };
  if (lifted !== undefined) {
    const { src_ip_hex, ...l } = lifted;
    row.lifted = { ...l, srcIp: src_ip_hex === null ? null : Buffer.from(src_ip_hex, 'hex') };
  }
  return row;
};

describe('canonical form (versions 1 and 2)', () => {
  it('canonical JSON sorts keys, drops undefined members, and has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, d: { z: 0.5, y: 'é"' } })).toBe('{"a":[true,null,"x"],"b":1,"d":{"y":"é\\"","z":0.5}}');
  });

  it('canonical JSON is not fooled by keys that collide in the key-set cache', () => {
    const a = { 'a\u0001b': 1, c: 2 };
    const b = { a: 1, 'b\u0001c': 2 };
    expect(canonicalJson(a)).toBe(JSON.stringify({ 'a\u0001b': 1, c: 2 }));
    expect(canonicalJson(b)).toBe(JSON.stringify({ a: 1, 'b\u0001c': 2 }));
    expect(canonicalJson({ z: 1, y: 2 })).toBe('{"y":2,"z":1}');
    expect(canonicalJson({ z: 3, y: 4 })).toBe('{"y":4,"z":3}');
  });

  it('canonical JSON survives a jsonb-style round trip (parse of re-serialized text)', () => {
    const v = { time: 1714564800123, s: 'tab\there\u2028', n: -0.25, nested: { k: [1, { b: 2, a: 1 }] } };
    expect(canonicalJson(JSON.parse(JSON.stringify(v, null, 2)))).toBe(canonicalJson(v));
  });

  for (const v of vectors) {
    it(`test vector: ${v.description}`, () => {
      const row = toRow(v);
      expect(canonicalBytes(row).toString('hex')).toBe(v.canonical_hex);
      expect(specEncode(row).toString('hex')).toBe(v.canonical_hex);
      const prev = Buffer.from(v.prev_hash, 'hex');
      expect(chainHash(prev, row).toString('hex')).toBe(v.hash);
      expect(createHash('sha256').update(prev).update(specEncode(row)).digest('hex')).toBe(v.hash);
    });
  }

  it('changing any field changes the hash', () => {
    const base = toRow(vectors[0]!);
    const h = chainHash(ZERO_HASH, base).toString('hex');
    const variants: Array<Partial<CanonicalRow>> = [
      { chain: 'other' }, { seq: base.seq + 1 }, { receivedAtUs: base.receivedAtUs + 1 }, { peerCn: 'x' }, { peerSans: ['DNS:x'] },
      { peerAddr: '10.0.0.1:1' }, { format: 'unparsed' }, { truncated: !base.truncated }, { parseError: 'e' },
      { raw: Buffer.from('x') }, { syslogJson: '{}' }, { eventJson: '{}' },
    ];
    for (const v of variants) expect(chainHash(ZERO_HASH, { ...base, ...v }).toString('hex')).not.toBe(h);
  });

  it('version 2: changing any lifted column changes the hash, and version 1 of the same row differs', () => {
    const base = toRow(vectors.find((v) => v.row.lifted !== undefined)!);
    const l = base.lifted!;
    const h = chainHash(ZERO_HASH, base).toString('hex');
    expect(chainHash(ZERO_HASH, { ...base, lifted: undefined }).toString('hex')).not.toBe(h);
    const variants: Array<Partial<CanonicalLifted>> = [
      { eventTimeUs: null }, { eventTimeUs: (l.eventTimeUs ?? 0) + 1 }, { hostname: null }, { appName: 'x' }, { classUid: 1 }, { activityId: 9 },
      { statusId: 9 }, { severityId: 9 }, { userName: 'mallory' }, { actorUser: 'x' }, { srcIp: null }, { srcIp: Buffer.from([6, 64, ...l.srcIp!.subarray(2)]) },
    ];
    for (const v of variants) expect(chainHash(ZERO_HASH, { ...base, lifted: { ...l, ...v } }).toString('hex')).not.toBe(h);
  });
});

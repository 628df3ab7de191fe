/**
 * Canonical form version 3 (docs/ledger-format.md, "Canonical form v3"): the test vectors of
 * test/fixtures/canonical-vectors-v3.json, checked by an encoder written here from the spec alone
 * (no code of src/ledger/row.ts), and by the code.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalV3, type Connection, type V3Values } from '../../src/ledger/row.js';
import { v3Hash } from '../../src/ledger/v3.js';

interface Vector {
  description: string;
  prev_hash: string;
  row: Record<string, unknown> & { raw_hex: string };
  connection: Connection;
  canonical_hex: string;
  hash: string;
}

const vectors = JSON.parse(readFileSync(new URL('../fixtures/canonical-vectors-v3.json', import.meta.url), 'utf8')) as Vector[];

/** The spec's encoder: field by field, in the spec's order, with its encodings. */
function specEncode(r: Vector['row'], c: Connection): Buffer {
  const parts: Buffer[] = [Buffer.from('SLR3', 'latin1')];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const str = (s: unknown): void => {
    if (s === null) parts.push(u32(0xffffffff));
    else {
      const b = Buffer.from(s as string, 'utf8');
      parts.push(u32(b.length), b);
    }
  };
  const i64 = (n: unknown): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(n as number));
    return b;
  };
  const opt = (n: unknown, width: 2 | 4 | 8): void => {
    if (n === null) {
      parts.push(Buffer.from([0]));
      return;
    }
    const b = Buffer.alloc(width);
    if (width === 2) b.writeInt16BE(n as number);
    else if (width === 4) b.writeInt32BE(n as number);
    else b.writeBigInt64BE(BigInt(n as number));
    parts.push(Buffer.from([1]), b);
  };
  const i32 = (n: unknown): void => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n as number);
    parts.push(b);
  };
  const inet = (s: unknown): void => {
    if (s === null) {
      parts.push(Buffer.from([0]));
      return;
    }
    const [addr, bits] = (s as string).split('/');
    if (addr!.includes(':')) {
      // Expand IPv6 (no embedded IPv4 in the vectors).
      const [h, t = ''] = addr!.split('::');
      const head = h ? h.split(':') : [];
      const tail = t ? t.split(':') : [];
      const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
      const b = Buffer.alloc(16);
      groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 2 * i));
      parts.push(Buffer.from([6, bits === undefined ? 128 : Number(bits)]), b);
    } else {
      parts.push(Buffer.from([4, bits === undefined ? 32 : Number(bits)]), Buffer.from(addr!.split('.').map(Number)));
    }
  };
  str(r.chain);
  parts.push(i64(r.seq), i64(r.received_at), i64(r.conn));
  str(c.transport);
  str(c.peer_addr);
  str(c.peer_cn);
  parts.push(u32(c.peer_sans.length));
  c.peer_sans.forEach(str);
  str(c.peer_subject);
  str(c.peer_fingerprint);
  str(r.format);
  parts.push(Buffer.from([r.truncated ? 1 : 0]));
  str(r.parse_error);
  const raw = Buffer.from(r.raw_hex, 'hex');
  parts.push(u32(raw.length), raw);
  opt(r.msg_at, 4);
  opt(r.facility, 2);
  opt(r.severity, 2);
  str(r.procid);
  str(r.msgid);
  str(r.sd);
  opt(r.event_time, 8);
  str(r.hostname);
  str(r.app_name);
  i32(r.class_uid);
  i32(r.activity_id);
  i32(r.status_id);
  i32(r.severity_id);
  str(r.user_name);
  str(r.actor_user);
  inet(r.src_ip);
  str(r.ocsf);
  str(r.event);
  return Buffer.concat(parts);
}

const valuesOf = (v: Vector): V3Values => {
  const { raw_hex, ...rest } = v.row;
  return { ...(rest as unknown as V3Values), raw: Buffer.from(raw_hex, 'hex'), hash: Buffer.alloc(0) };
};

describe('canonical form version 3', () => {
  it('has vectors for every kind of row the spec describes', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(4);
    expect(new Set(vectors.map((v) => v.row.format))).toEqual(new Set(['rfc5424', 'rfc3164', 'unparsed', 'internal']));
  });

  for (const v of vectors) {
    it(`vector: ${v.description}`, () => {
      const spec = specEncode(v.row, v.connection);
      expect(spec.toString('hex')).toBe(v.canonical_hex);
      expect(canonicalV3(valuesOf(v), v.connection).toString('hex')).toBe(v.canonical_hex);
      const hash = createHash('sha256').update(Buffer.from(v.prev_hash, 'hex')).update(spec).digest('hex');
      expect(hash).toBe(v.hash);
      expect(v3Hash(Buffer.from(v.prev_hash, 'hex'), valuesOf(v), v.connection).toString('hex')).toBe(v.hash);
    });
  }

  it('the vectors chain: each prev_hash is the previous vector\'s hash', () => {
    for (let i = 1; i < vectors.length; i++) expect(vectors[i]!.prev_hash).toBe(vectors[i - 1]!.hash);
  });

  it('every column and every connection field changes the hash', () => {
    const v = vectors[1]!;
    const prev = Buffer.from(v.prev_hash, 'hex');
    const want = v.hash;
    const base = valuesOf(v);
    const changes: Array<Partial<V3Values>> = [
      { chain: 'host-b' }, { seq: 3 }, { received_at: base.received_at + 1 }, { conn: 2 }, { format: 'json' }, { truncated: true },
      { parse_error: 'x' }, { raw: Buffer.from('x') }, { msg_at: 0 }, { facility: 5 }, { severity: 0 }, { procid: '78' }, { msgid: 'X' },
      { sd: '{}' }, { event_time: null }, { hostname: 'h' }, { app_name: null }, { class_uid: 0 }, { activity_id: 2 }, { status_id: 1 },
      { severity_id: 4 }, { user_name: 'eve' }, { actor_user: 'root' }, { src_ip: '10.0.0.9/8' }, { ocsf: '{}' }, { event: '{}' },
    ];
    for (const c of changes) expect(v3Hash(prev, { ...base, ...c }, v.connection).toString('hex'), JSON.stringify(Object.keys(c))).not.toBe(want);
    for (const c of [{ transport: 'relp' }, { peer_addr: '127.0.0.1:50001' }, { peer_cn: null }, { peer_sans: [] }, { peer_subject: '' }, { peer_fingerprint: '' }]) {
      expect(v3Hash(prev, base, { ...v.connection, ...c }).toString('hex')).not.toBe(want);
    }
  });
});

/**
 * The canonical byte form of a ledger row, version 1 (docs/ledger-format.md), and the chain hash
 *   hash = SHA-256(prev_hash || canonical(row)).
 * Every field a row stores, except the lifted filter columns (which verify re-derives from `event`)
 * and the hashes themselves, is in it: changing any of them changes the hash.
 *
 * Binary, not JSON-of-the-row: a length-prefixed layout has one encoding, needs no escaping rules,
 * and costs one buffer write per field (see bench/stages.ts "canonical+sha256").
 */
import { createHash } from 'node:crypto';
import type { ChainedRecord, LedgerRecord } from './types.js';

export const CANONICAL_VERSION = 1;
const MAGIC = Buffer.from('SLR1', 'latin1');
const NULL_LEN = 0xffffffff;

/** The fields the canonical form covers, as stored (and as read back by verify). */
export interface CanonicalRow {
  chain: string;
  seq: number;
  receivedAtUs: number;
  peerCn: string | null;
  peerSans: readonly string[];
  peerAddr: string;
  format: string;
  truncated: boolean;
  parseError: string | null;
  raw: Buffer;
  /** Canonical JSON (canonicalJson) of the parsed syslog fields. */
  syslogJson: string;
  /** Canonical JSON (canonicalJson) of the normalized event. */
  eventJson: string;
}

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units (as RFC 8785 does), no whitespace,
 * `undefined` members omitted, strings and numbers as JSON.stringify writes them. It survives a
 * round trip through PostgreSQL jsonb (JSON.parse of jsonb's text gives the same canonical string)
 * for every value our parsers produce: finite numbers, strings without U+0000 or lone surrogates.
 *
 * Hot path (every event, twice). Events share a small vocabulary of key sets, so the sorted order of
 * each key set and each quoted key are cached: 8.8 -> 6.0 µs of CPU per event (syslog + event JSON),
 * against 3.3 µs for a plain JSON.stringify (bench/stages.ts "canonical+sha256"; measured as CPU time).
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let s = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) s += ',';
          const v: unknown = value[i];
          s += v === undefined ? 'null' : canonicalJson(v);
        }
        return `${s}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = sortedKeys(obj);
      let s = '{';
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = obj[k];
        if (v === undefined || typeof v === 'function') continue;
        if (!first) s += ',';
        first = false;
        s += quotedKey(k) + canonicalJson(v);
      }
      return `${s}}`;
    }
    default:
      return 'null';
  }
}

const CACHE_MAX = 4096;
const sortedKeySets = new Map<string, string[]>();
const quotedKeys = new Map<string, string>();

function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  if (keys.length < 2) return keys;
  const signature = keys.join('\u0001');
  const cached = sortedKeySets.get(signature);
  // Keys are data (JSON frames): a key containing U+0001 could make two key sets share a
  // signature, so a hit counts only if it names exactly this object's keys.
  if (cached !== undefined && cached.length === keys.length && sameKeys(cached, obj)) return cached;
  const sorted = keys.sort();
  if (sortedKeySets.size < CACHE_MAX) sortedKeySets.set(signature, sorted);
  return sorted;
}

function sameKeys(keys: readonly string[], obj: Record<string, unknown>): boolean {
  for (let i = 0; i < keys.length; i++) if (!Object.hasOwn(obj, keys[i]!)) return false;
  return true;
}

function quotedKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = `${JSON.stringify(k)}:`;
    if (quotedKeys.size < CACHE_MAX) quotedKeys.set(k, q);
  }
  return q;
}

/** Reusable scratch space for the canonical bytes (grown on demand). */
let scratch = Buffer.allocUnsafe(64 * 1024);

function ensure(bytes: number): void {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2));
}

/** Writes the canonical form into the scratch buffer; returns its length. */
function encode(row: CanonicalRow): number {
  const strings = [row.chain, row.peerCn, row.peerAddr, row.format, row.parseError, row.syslogJson, row.eventJson];
  let upper = MAGIC.length + 8 + 8 + 1 + 4 + row.raw.length + strings.length * 4;
  for (const s of strings) if (s !== null) upper += s.length * 3;
  upper += 4;
  for (const s of row.peerSans) upper += 4 + s.length * 3;
  ensure(upper);

  let o = MAGIC.copy(scratch, 0);
  const str = (s: string | null): void => {
    if (s === null) {
      o = scratch.writeUInt32BE(NULL_LEN, o);
      return;
    }
    const n = scratch.write(s, o + 4, 'utf8');
    scratch.writeUInt32BE(n, o);
    o += 4 + n;
  };
  str(row.chain);
  o = scratch.writeBigUInt64BE(BigInt(row.seq), o);
  o = scratch.writeBigInt64BE(BigInt(row.receivedAtUs), o);
  str(row.peerCn);
  o = scratch.writeUInt32BE(row.peerSans.length, o);
  for (const s of row.peerSans) str(s);
  str(row.peerAddr);
  str(row.format);
  o = scratch.writeUInt8(row.truncated ? 1 : 0, o);
  str(row.parseError);
  o = scratch.writeUInt32BE(row.raw.length, o);
  o += row.raw.copy(scratch, o);
  str(row.syslogJson);
  str(row.eventJson);
  return o;
}

/** The canonical bytes of a row (a copy; for tests, test vectors and other tools). */
export function canonicalBytes(row: CanonicalRow): Buffer {
  return Buffer.from(scratch.subarray(0, encode(row)));
}

/** hash = SHA-256(prev_hash || canonical(row)). */
export function chainHash(prevHash: Buffer, row: CanonicalRow): Buffer {
  const n = encode(row);
  return createHash('sha256').update(prevHash).update(scratch.subarray(0, n)).digest();
}

/** The canonical fields of a record placed at `seq` in `chain`, given its canonical JSON texts. */
export function canonicalRowOf(record: LedgerRecord, chain: string, seq: number, syslogJson: string, eventJson: string): CanonicalRow {
  return {
    chain,
    seq,
    receivedAtUs: record.receivedAtUs,
    peerCn: record.peer.cn,
    peerSans: record.peer.sans,
    peerAddr: record.peer.address,
    format: record.format,
    truncated: record.truncated,
    parseError: record.parseError,
    raw: record.raw,
    syslogJson,
    eventJson,
  };
}

/**
 * Gives a record its place in a chain: each JSON document is serialized canonically once, hashed,
 * and returned so the same text goes into the COPY stream (the writer and retention records use this).
 */
export function chainRecord(record: LedgerRecord, chain: string, seq: number, prevHash: Buffer): { row: ChainedRecord; syslogJson: string; eventJson: string } {
  const syslogJson = canonicalJson(record.syslog);
  const eventJson = canonicalJson(record.event);
  const hash = chainHash(prevHash, canonicalRowOf(record, chain, seq, syslogJson, eventJson));
  return { row: { ...record, chain, seq, prevHash, hash }, syslogJson, eventJson };
}

/**
 * The canonical byte form of a ledger row (docs/ledger-format.md), and the chain hash
 *   hash = SHA-256(prev_hash || canonical(row)).
 * Version 2 (what the writer writes) covers every column a row stores but the hashes themselves:
 * changing any of them changes the hash. Version 1 (rows written before it) left out the lifted
 * filter columns, which verify re-derives from `event` for those rows.
 *
 * Binary, not JSON-of-the-row: a length-prefixed layout has one encoding, needs no escaping rules,
 * and costs one buffer write per field (see bench/stages.ts "canonical+sha256").
 */
import type { LiftedColumns } from '../normalize/types.js';
import { inetBytes, inetText } from './inet.js';
import { sha256 } from './sha256.js';
import { isoMicros } from './copy.js';
import { rfc3339Micros } from './time.js';
import type { ChainedRecord, LedgerRecord } from './types.js';

/** The version the writer writes; verify and the archive tools also read version 1. */
export const CANONICAL_VERSION = 2;
const MAGIC_V1 = Buffer.from('SLR1', 'latin1');
const MAGIC_V2 = Buffer.from('SLR2', 'latin1');
const NULL_LEN = 0xffffffff;

/** The lifted filter columns as version 2 hashes them (the columns' stored values). */
export interface CanonicalLifted {
  /** `event_time`, microseconds since 1970-01-01T00:00:00Z. */
  eventTimeUs: number | null;
  hostname: string | null;
  appName: string | null;
  classUid: number;
  activityId: number;
  statusId: number;
  severityId: number;
  userName: string | null;
  actorUser: string | null;
  /** `src_ip` as inetBytes (src/ledger/inet.ts): [4|6, prefix length, address bytes]. */
  srcIp: Uint8Array | null;
}

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
  /** The lifted columns: present for version 2, absent for version 1. */
  lifted?: CanonicalLifted | undefined;
}

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units (as RFC 8785 does), no whitespace,
 * `undefined` members omitted, strings and numbers as JSON.stringify writes them. It survives a
 * round trip through PostgreSQL jsonb (JSON.parse of jsonb's text gives the same canonical string)
 * for every value our parsers produce: finite numbers, strings without U+0000 or lone surrogates.
 *
 * Hot path (every event, twice). Events share a small vocabulary of key sets, so the sorted order of
 * each key set and each quoted key are cached, which takes about a third off the CPU per event
 * (bench/stages.ts "canonical+sha256"; bench/experiments.ts compares it with a plain JSON.stringify).
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
const sortedKeySets = new Map<string, KeySet[]>();
let keySetCount = 0;
const quotedKeys = new Map<string, string>();

/** A key set as Object.keys gave it (insertion order), and sorted. */
interface KeySet {
  readonly keys: readonly string[];
  readonly sorted: string[];
}

/**
 * An object's own keys in canonical order. Events share a small vocabulary of key sets, so each
 * set's sorted order is cached, found by its first key and confirmed key by key (the
 * keys of one shape are the same interned strings: each comparison is a pointer test). Joining the
 * keys into a signature string, as before, cost more than the sort it saved on small objects
 * (bench/stages.ts "v3 split"; 9 % of the writer's CPU in a profile).
 */
export function sortedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  const n = keys.length;
  if (n < 2) return keys;
  const first = keys[0]!;
  const sets = sortedKeySets.get(first);
  if (sets !== undefined) {
    for (let s = 0; s < sets.length; s++) {
      const ks = sets[s]!.keys;
      if (ks.length !== n || ks[n - 1] !== keys[n - 1]) continue;
      let i = 1;
      while (i < n - 1 && ks[i] === keys[i]) i++;
      if (i >= n - 1) return sets[s]!.sorted;
    }
  }
  const sorted = [...keys].sort();
  if (keySetCount < CACHE_MAX) {
    keySetCount++;
    if (sets === undefined) sortedKeySets.set(first, [{ keys, sorted }]);
    else sets.push({ keys, sorted });
  }
  return sorted;
}

/** `"k":` (JSON-quoted key and colon), cached. */
export function quotedKey(k: string): string {
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

/** Where encode() starts: the room before it takes the prev_hash that chainHash() hashes with it. */
const AT = 32;

/** Writes the canonical form into the scratch buffer from AT; returns where it ends. */
function encode(row: CanonicalRow): number {
  const strings = [row.chain, row.peerCn, row.peerAddr, row.format, row.parseError, row.syslogJson, row.eventJson];
  const l = row.lifted;
  if (l !== undefined) strings.push(l.hostname, l.appName, l.userName, l.actorUser);
  let upper = 4 + 8 + 8 + 1 + 4 + row.raw.length + strings.length * 4 + (l === undefined ? 0 : 9 + 16 + 19);
  for (const s of strings) if (s !== null) upper += s.length * 3;
  upper += 4;
  for (const s of row.peerSans) upper += 4 + s.length * 3;
  ensure(AT + upper);

  let o = AT + (l === undefined ? MAGIC_V1 : MAGIC_V2).copy(scratch, AT);
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
  if (l === undefined) return o;
  if (l.eventTimeUs === null) o = scratch.writeUInt8(0, o);
  else o = scratch.writeBigInt64BE(BigInt(l.eventTimeUs), scratch.writeUInt8(1, o));
  str(l.hostname);
  str(l.appName);
  o = scratch.writeInt32BE(l.classUid, o);
  o = scratch.writeInt32BE(l.activityId, o);
  o = scratch.writeInt32BE(l.statusId, o);
  o = scratch.writeInt32BE(l.severityId, o);
  str(l.userName);
  str(l.actorUser);
  if (l.srcIp === null) o = scratch.writeUInt8(0, o);
  else {
    scratch.set(l.srcIp, o);
    o += l.srcIp.length;
  }
  return o;
}

/**
 * Microseconds of a time in the stored form, UTC text with six digits (isoMicros's
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ`), when a double holds them exactly; null for any other text.
 */
function utcTextMicros(text: string): number | null {
  const us = rfc3339Micros(text);
  return us !== undefined && isoMicros(us) === text ? us : null;
}

/**
 * The lifted columns as version 2 hashes them, from their text as stored and read back
 * (`event_time` as UTC with six digits, `src_ip` as `abbrev(src_ip)`); null when a value cannot be
 * what a version 2 writer stored (the row can then only be version 1).
 */
export function canonicalLifted(c: LiftedColumns): CanonicalLifted | null {
  const texts = [c.event_time, c.hostname, c.app_name, c.user_name, c.actor_user, c.src_ip];
  if (!texts.every((t) => t === null || typeof t === 'string')) return null;
  const eventTimeUs = c.event_time === null ? null : utcTextMicros(c.event_time);
  if (c.event_time !== null && eventTimeUs === null) return null;
  const srcIp = c.src_ip === null ? null : inetBytes(c.src_ip);
  if (c.src_ip !== null && srcIp === null) return null;
  return liftedOf(c, eventTimeUs, srcIp);
}

const isInt32 = (n: unknown): boolean => typeof n === 'number' && (n | 0) === n;

/** CanonicalLifted of columns whose time and address are already read (per event: no arrays, no closures). */
function liftedOf(c: LiftedColumns, eventTimeUs: number | null, srcIp: Uint8Array | null): CanonicalLifted | null {
  if (!(isInt32(c.class_uid) && isInt32(c.activity_id) && isInt32(c.status_id) && isInt32(c.severity_id))) return null;
  return {
    eventTimeUs,
    hostname: c.hostname,
    appName: c.app_name,
    classUid: c.class_uid,
    activityId: c.activity_id,
    statusId: c.status_id,
    severityId: c.severity_id,
    userName: c.user_name,
    actorUser: c.actor_user,
    srcIp,
  };
}

/**
 * The lifted columns as the writer stores them, and as version 2 hashes them: `event_time` as UTC
 * text with six fractional digits (the microseconds hashed; NULL when the text is not RFC 3339 or
 * the instant lies outside what a double holds exactly in microseconds, the years 1684-2255),
 * `src_ip` in a form PostgreSQL reads back to the bytes hashed. PostgreSQL takes every value as
 * hashed, and canonicalLifted() of the stored text gives the same `lifted`. (`lifted` is null only
 * for an id outside int32, which PostgreSQL refuses anyway.)
 */
export function ledgerColumns(c: LiftedColumns): { columns: LiftedColumns; lifted: CanonicalLifted | null } {
  // rfc3339Micros refuses what rfc3339ToUtcMicros refuses, and an instant it cannot hold has no
  // UTC text it could hold either: there is no second way to try.
  const us = c.event_time === null ? null : rfc3339Micros(c.event_time) ?? null;
  const ip = c.src_ip === null ? null : inetBytes(c.src_ip);
  const columns = { ...c, event_time: us === null ? null : isoMicros(us), src_ip: ip === null ? null : inetText(ip) };
  return { columns, lifted: liftedOf(columns, us, ip) };
}

/** The canonical bytes of a row (a copy; for tests, test vectors and other tools). */
export function canonicalBytes(row: CanonicalRow): Buffer {
  return Buffer.from(scratch.subarray(AT, encode(row)));
}

/** hash = SHA-256(prev_hash || canonical(row)). */
export function chainHash(prevHash: Buffer, row: CanonicalRow): Buffer {
  const n = encode(row);
  // A prev_hash of another length (a tampered row) is hashed as it is: the hash will not match.
  if (prevHash.length !== AT) return sha256(Buffer.concat([prevHash, scratch.subarray(AT, n)]));
  prevHash.copy(scratch, 0);
  return sha256(scratch.subarray(0, n));
}

/** The canonical fields (version 2) of a record placed at `seq` in `chain`, given its canonical JSON texts and ledgerColumns().lifted. */
export function canonicalRowOf(record: LedgerRecord, chain: string, seq: number, syslogJson: string, eventJson: string, lifted: CanonicalLifted | null): CanonicalRow {
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
    lifted: lifted ?? undefined,
  };
}

/**
 * Gives a record its place in a chain: each JSON document is serialized canonically once, hashed,
 * and returned so the same text goes into the COPY stream (the writer and retention records use
 * this); the row's columns are ledgerColumns(), the values hashed and stored.
 */
export function chainRecord(record: LedgerRecord, chain: string, seq: number, prevHash: Buffer): { row: ChainedRecord; syslogJson: string; eventJson: string } {
  const syslogJson = canonicalJson(record.syslog);
  const eventJson = canonicalJson(record.event);
  const { columns, lifted } = ledgerColumns(record.columns);
  const hash = chainHash(prevHash, canonicalRowOf(record, chain, seq, syslogJson, eventJson, lifted));
  return { row: chainedRow(record, columns, chain, seq, prevHash, hash), syslogJson, eventJson };
}

/**
 * A record with its place in a chain. Every field named, not `{ ...record, ... }`: records reach
 * here in several shapes (one per format and producer), and the spread's generic copy costs far more.
 */
export function chainedRow(record: LedgerRecord, columns: ChainedRecord['columns'], chain: string, seq: number, prevHash: Buffer, hash: Buffer): ChainedRecord {
  return {
    receivedAtUs: record.receivedAtUs,
    peer: record.peer,
    raw: record.raw,
    truncated: record.truncated,
    format: record.format,
    parseError: record.parseError,
    syslog: record.syslog,
    event: record.event,
    columns,
    chain,
    seq,
    prevHash,
    hash,
  };
}

/**
 * Verifies one range of one chain (rows seq in [from, to), read by binary COPY): every row's seq and
 * prev_hash against the row before it in the range, its hash recomputed from the stored fields, and
 * its lifted columns against its event. The first row's seq and prev_hash are handed back for the
 * caller to check against the previous range ("stitching"), so ranges of one chain can run in
 * parallel, each trusting nothing but its own rows.
 *
 * Fast path per row (verify's hot path; bench/verify.ts): the canonical bytes are written straight
 * from the COPY buffer (text and bytea fields are already their canonical bytes; jsonb is
 * canonicalized from its text by verify-jsonb.ts) and hashed once; the lifted columns are compared
 * with liftColumns() of the few event members it reads, captured during canonicalization. Whenever
 * the fast path disagrees with the stored row, or cannot handle it, the row is decoded and checked
 * again by the reference code (verify-reference.ts), which decides: the fast path can only save time.
 */
import { hash as cryptoHash } from 'node:crypto';
import type pg from 'pg';
import { liftColumns } from '../normalize/columns.js';
import type { OcsfEvent } from '../normalize/types.js';
import type { ParsedMessage, SyslogFields } from '../parsing/types.js';
import { isoMicros } from './copy.js';
import { rfc3339ToUtcMicros } from './time.js';
import { copyRange, F, type ChainRange, type CopyRow } from './verify-copy.js';
import { JsonbCanonicalizer, LEAF, NotCanonicalizable, type Want } from './verify-jsonb.js';
import { liftedMismatches, recomputeHash, type FindingKind, type StoredRow } from './verify-reference.js';

/** A finding inside a range (the chain is the range's). */
export interface RangeFinding {
  readonly seq: number;
  readonly kind: FindingKind;
  readonly detail: string;
}

/** What a range gives back besides its row hashes. */
export interface RangeSummary {
  rows: number;
  /** The first row's seq and prev_hash, for the caller to stitch to the previous range. */
  first: { seq: number; prevHash: Buffer } | null;
  /** The last row's seq and stored hash. */
  last: { seq: number; hash: Buffer } | null;
  findings: RangeFinding[];
  findingCount: number;
  /** Rows the fast path handed to the reference code (diagnostics: ~0 on an intact ledger). */
  slowRows: number;
}

/** Row hashes in order, in batches: seqs[i] and hashes[32 i, 32 i + 32) for i < n. */
export type HashSink = (seqs: Float64Array, hashes: Uint8Array, n: number) => void;

/** Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's timestamp epoch. */
const PG_EPOCH_US = 946_684_800_000_000;
const TWO32 = 2 ** 32;
const BATCH = 4096;

/** The event members liftColumns() reads (checked at load by liftReadsOnly; see below). */
const LIFT_WANT: Want = new Map<string, Want | typeof LEAF>([
  ['time_dt', LEAF],
  ['device', new Map([['hostname', LEAF]])],
  ['metadata', new Map([['log_provider', LEAF]])],
  ['class_uid', LEAF],
  ['activity_id', LEAF],
  ['status_id', LEAF],
  ['severity_id', LEAF],
  ['user', new Map([['name', LEAF]])],
  ['actor', new Map([['user', new Map([['name', LEAF]])]])],
  ['src_endpoint', new Map([['ip', LEAF]])],
]);

/**
 * Whether liftColumns() reads nothing but LIFT_WANT: run on proxies of sample events (several
 * classes, so that class-dependent reads show up) that record every property access. When it reads
 * more (the normalizer grew), verify parses each event in full instead: slower, still exact.
 */
function liftReadsOnly(want: Want): boolean {
  let ok = true;
  const refuse = (): never => {
    ok = false;
    throw new Error('unexpected access');
  };
  const wrap = (obj: object, sel: Want | undefined): object =>
    new Proxy(obj, {
      get(t, k) {
        const inner = typeof k === 'string' ? sel?.get(k) : undefined;
        if (inner === undefined) refuse();
        const v = (t as Record<string | symbol, unknown>)[k];
        return v !== null && typeof v === 'object' && inner !== LEAF ? wrap(v, inner as Want) : v;
      },
      has: refuse,
      ownKeys: refuse,
      getOwnPropertyDescriptor: refuse,
    });
  for (const cls of [0, 1001, 3002, 6003]) {
    const sample = {
      time_dt: '2024-01-02T03:04:05.000006Z', class_uid: cls, activity_id: 1, status_id: 2, severity_id: 3,
      device: { hostname: 'h' }, metadata: { log_provider: 'p' }, user: { name: 'u' }, actor: { user: { name: 'a' } }, src_endpoint: { ip: '192.0.2.1' },
    };
    try {
      liftColumns(wrap(sample, want) as OcsfEvent, wrap({}, new Map()) as ParsedMessage);
    } catch {
      ok = false;
    }
  }
  return ok;
}
const FAST_LIFT = liftReadsOnly(LIFT_WANT);

/** One per thread: verifies ranges one after another, reusing its scratch buffers. */
export class RangeVerifier {
  readonly #jsonb = new JsonbCanonicalizer();
  readonly #maxFindings: number;
  #scratch = Buffer.allocUnsafe(256 * 1024);
  readonly #capture: { value: unknown } = { value: undefined };

  constructor(opts: { maxFindings: number }) {
    this.#maxFindings = opts.maxFindings;
  }

  /** Runs one range on `client` (inside the caller's snapshot transaction). */
  async run(client: pg.Client, range: ChainRange, onHashes: HashSink): Promise<RangeSummary> {
    const sum: RangeSummary = { rows: 0, first: null, last: null, findings: [], findingCount: 0, slowRows: 0 };
    const lastHash = Buffer.alloc(32);
    let lastSeq = 0;
    let seqs = new Float64Array(BATCH);
    let hashes = new Uint8Array(32 * BATCH);
    let n = 0;
    const report = (seq: number, kind: FindingKind, detail: string): void => {
      sum.findingCount++;
      if (sum.findings.length < this.#maxFindings) sum.findings.push({ seq, kind, detail });
    };
    await copyRange(client, range, (row) => {
      const b = row.buf;
      const seq = readInt64(b, row.start[F.seq] as number);
      const ps = row.start[F.prevHash] as number;
      const hs = row.start[F.hash] as number;
      if (row.len[F.prevHash] !== 32 || row.len[F.hash] !== 32) throw new Error(`row ${seq}: hash columns are not 32 bytes`);
      if (sum.rows === 0) {
        sum.first = { seq, prevHash: Buffer.from(b.subarray(ps, ps + 32)) };
      } else {
        if (seq !== lastSeq + 1) {
          report(seq, seq > lastSeq + 1 ? 'seq_gap' : 'seq_order', seq > lastSeq + 1 ? `seq ${lastSeq + 1}..${seq - 1} missing` : `seq ${seq} after ${lastSeq}`);
        }
        if (!same32(b, ps, lastHash, 0)) report(seq, 'broken_link', "prev_hash is not the previous row's hash");
      }
      this.#check(row, seq, report, sum);
      sum.rows++;
      for (let k = 0; k < 32; k++) lastHash[k] = b[hs + k] as number;
      lastSeq = seq;
      seqs[n] = seq;
      for (let k = 0, o = 32 * n; k < 32; k++) hashes[o + k] = b[hs + k] as number;
      if (++n === BATCH) {
        onHashes(seqs, hashes, n);
        seqs = new Float64Array(BATCH);
        hashes = new Uint8Array(32 * BATCH);
        n = 0;
      }
    });
    if (n > 0) onHashes(seqs, hashes, n);
    if (sum.rows > 0) sum.last = { seq: lastSeq, hash: lastHash };
    return sum;
  }

  /** Hash and lifted columns of one row: fast path, confirmed by the reference code on any doubt. */
  #check(row: CopyRow, seq: number, report: (seq: number, kind: FindingKind, detail: string) => void, sum: RangeSummary): void {
    let fastHash = false;
    let fastLift = false;
    try {
      const n = this.#encode(row);
      const h = cryptoHash('sha256', this.#scratch.subarray(0, n), 'buffer') as unknown as Buffer;
      fastHash = same32(row.buf, row.start[F.hash] as number, h, 0);
      if (fastHash) fastLift = liftedEqual(row, liftColumns(FAST_LIFT ? (this.#capture.value as OcsfEvent) : eventOf(row)));
    } catch {
      // Anything the fast path cannot do (NotCanonicalizable, an event liftColumns chokes on, ...) the
      // reference code below does, and reports.
    }
    if (fastHash && fastLift) return;
    sum.slowRows++;
    let stored: StoredRow;
    try {
      stored = storedRow(row);
      const { hash, syslog, event } = recomputeHash(stored.prevHash, stored);
      if (!hash.equals(stored.hash)) report(seq, 'hash_mismatch', 'row content does not match its hash');
      const bad = liftedMismatches(stored, syslog as SyslogFields, event);
      if (bad.length) report(seq, 'column_mismatch', `columns disagree with event: ${bad.join(', ')}`);
    } catch (err) {
      report(seq, 'unreadable_row', (err as Error).message);
    }
  }

  /** prev_hash || canonical(row) (docs/ledger-format.md) into the scratch buffer; returns its length. */
  #encode(row: CopyRow): number {
    const b = row.buf;
    const st = row.start;
    const ln = row.len;
    let need = 512;
    for (let i = 0; i < ln.length; i++) need += ln[i] as number;
    need += 2 * ((ln[F.syslog] as number) + (ln[F.event] as number));
    if (this.#scratch.length < need) this.#scratch = Buffer.allocUnsafe(need * 2);
    const o = this.#scratch;
    // Small copies in JS: a native Buffer#copy costs ~50 ns whatever the size.
    const ps = st[F.prevHash] as number;
    for (let k = 0; k < 32; k++) o[k] = b[ps + k] as number;
    o[32] = 0x53; // S L R 1
    o[33] = 0x4c;
    o[34] = 0x52;
    o[35] = 0x31;
    let w = copyStr(b, st[F.chain] as number, ln[F.chain] as number, o, 36, false);
    // seq: int8 -> uint64, the same bytes when not negative (a negative seq is the reference code's to report).
    const ss = st[F.seq] as number;
    if ((b[ss] as number) & 0x80) throw new NotCanonicalizable('negative seq');
    for (let k = 0; k < 8; k++) o[w + k] = b[ss + k] as number;
    w += 8;
    // received_at: microseconds since 2000-01-01 -> since 1970-01-01.
    const us = readInt64(b, st[F.receivedAt] as number) + PG_EPOCH_US;
    if (!Number.isSafeInteger(us)) throw new NotCanonicalizable('received_at out of range');
    const hi = Math.floor(us / TWO32);
    o.writeInt32BE(hi, w);
    o.writeUInt32BE(us - hi * TWO32, w + 4);
    w += 8;
    w = copyStr(b, st[F.peerCn] as number, ln[F.peerCn] as number, o, w, true);
    w = copySans(b, st[F.peerSans] as number, ln[F.peerSans] as number, o, w);
    w = copyStr(b, st[F.peerAddr] as number, ln[F.peerAddr] as number, o, w, false);
    w = copyStr(b, st[F.format] as number, ln[F.format] as number, o, w, false);
    if (ln[F.truncated] !== 1) throw new NotCanonicalizable('truncated is NULL');
    o[w++] = b[st[F.truncated] as number] ? 1 : 0;
    w = copyStr(b, st[F.parseError] as number, ln[F.parseError] as number, o, w, true);
    w = copyStr(b, st[F.raw] as number, ln[F.raw] as number, o, w, false);
    w = this.#json(row, F.syslog, w, undefined);
    return this.#json(row, F.event, w, FAST_LIFT ? LIFT_WANT : undefined);
  }

  /** A jsonb field (version byte 1, then its text) as a canonical JSON str. */
  #json(row: CopyRow, field: number, w: number, want: Want | undefined): number {
    const s = row.start[field] as number;
    const len = row.len[field] as number;
    if (len < 1 || row.buf[s] !== 1) throw new NotCanonicalizable('jsonb field is NULL or of an unknown version');
    const end = this.#jsonb.canonicalize(row.buf, s + 1, s + len, this.#scratch, w + 4, want, want ? this.#capture : undefined);
    this.#scratch.writeUInt32BE(end - w - 4, w);
    return end;
  }
}

/** The whole event, parsed (when liftColumns reads more than LIFT_WANT). */
function eventOf(row: CopyRow): OcsfEvent {
  const s = row.start[F.event] as number;
  return JSON.parse(row.buf.toString('utf8', s + 1, s + (row.len[F.event] as number))) as OcsfEvent;
}

function same32(a: Buffer, as: number, b: Uint8Array, bs: number): boolean {
  for (let k = 0; k < 32; k++) if (a[as + k] !== b[bs + k]) return false;
  return true;
}

function readInt64(b: Buffer, at: number): number {
  return b.readInt32BE(at) * TWO32 + b.readUInt32BE(at + 4);
}

/** A text field as a canonical str: 4-byte length and the bytes, or 0xFFFFFFFF for NULL. */
function copyStr(b: Buffer, s: number, len: number, o: Buffer, w: number, nullable: boolean): number {
  if (len < 0) {
    if (!nullable) throw new NotCanonicalizable('unexpected NULL');
    o.writeUInt32BE(0xffffffff, w);
    return w + 4;
  }
  o.writeUInt32BE(len, w);
  w += 4;
  if (len < 48) for (let k = 0; k < len; k++) o[w + k] = b[s + k] as number;
  else b.copy(o, w, s, s + len);
  return w + len;
}

/**
 * peer_sans (text[], binary array format: ndim, flags, element type, then per dimension size and
 * lower bound, then each element as a 4-byte length, -1 for NULL, and its bytes) as the canonical
 * count followed by each element as a str: the element encoding is the same bytes.
 */
function copySans(b: Buffer, s: number, len: number, o: Buffer, w: number): number {
  if (len < 12) throw new NotCanonicalizable('peer_sans is NULL');
  const ndim = b.readInt32BE(s);
  if (ndim === 0) {
    o.writeUInt32BE(0, w);
    return w + 4;
  }
  if (ndim !== 1) throw new NotCanonicalizable('peer_sans is multidimensional');
  o.writeUInt32BE(b.readInt32BE(s + 12), w);
  const from = s + 20;
  return w + 4 + b.copy(o, w + 4, from, s + len);
}

/** Whether the stored lifted columns equal `want`, without decoding them (compareLifted's semantics). */
function liftedEqual(row: CopyRow, want: ReturnType<typeof liftColumns>): boolean {
  const b = row.buf;
  const st = row.start;
  const ln = row.len;
  if (ln[F.eventTime] === 8) {
    if (want.event_time === null) return false;
    const gotUs = readInt64(b, st[F.eventTime] as number) + PG_EPOCH_US;
    const wantUs = rfc3339Micros(want.event_time);
    if (wantUs === undefined || !Number.isSafeInteger(gotUs)) {
      if (rfc3339ToUtcMicros(want.event_time) !== isoMicros(gotUs)) return false;
    } else if (wantUs !== gotUs) return false;
  }
  return (
    textEquals(want.hostname, b, st[F.hostname] as number, ln[F.hostname] as number) &&
    textEquals(want.app_name, b, st[F.appName] as number, ln[F.appName] as number) &&
    ln[F.classUid] === 4 && want.class_uid === b.readInt32BE(st[F.classUid] as number) &&
    ln[F.activityId] === 4 && want.activity_id === b.readInt32BE(st[F.activityId] as number) &&
    ln[F.statusId] === 4 && want.status_id === b.readInt32BE(st[F.statusId] as number) &&
    ln[F.severityId] === 4 && want.severity_id === b.readInt32BE(st[F.severityId] as number) &&
    textEquals(want.user_name, b, st[F.userName] as number, ln[F.userName] as number) &&
    textEquals(want.actor_user, b, st[F.actorUser] as number, ln[F.actorUser] as number) &&
    ((ln[F.srcIp] as number) < 0 || textEquals(want.src_ip, b, st[F.srcIp] as number, ln[F.srcIp] as number))
  );
}

/**
 * Microseconds since 1970 of the RFC 3339 text `YYYY-MM-DD[Tt ]HH:MM:SS[.f{1,9}](Z|z|±HH:MM)`, read
 * as rfc3339ToUtcMicros() reads it (fraction truncated to 6 digits); undefined for anything else,
 * which then goes the string way. Equal instants <=> equal rfc3339ToUtcMicros/isoMicros texts, for
 * the in-range fields accepted here; without the regex and two Date round trips (bench/verify.ts:
 * 1.5 µs per row before).
 */
export function rfc3339Micros(t: string): number | undefined {
  const n = t.length;
  if (n < 20) return undefined;
  const dg = (k: number): number => {
    const c = t.charCodeAt(k) - 48;
    return c >= 0 && c <= 9 ? c : -100;
  };
  const sep = t.charCodeAt(10);
  if (t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58 || (sep !== 84 && sep !== 116 && sep !== 32)) return undefined;
  const year = dg(0) * 1000 + dg(1) * 100 + dg(2) * 10 + dg(3);
  const month = dg(5) * 10 + dg(6);
  const day = dg(8) * 10 + dg(9);
  const hour = dg(11) * 10 + dg(12);
  const minute = dg(14) * 10 + dg(15);
  const second = dg(17) * 10 + dg(18);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return undefined;
  let i = 19;
  let micros = 0;
  if (t.charCodeAt(i) === 46) {
    i++;
    const from = i;
    while (i < n && dg(i) >= 0) i++;
    if (i === from || i - from > 9) return undefined;
    for (let k = 0; k < 6; k++) micros = micros * 10 + (from + k < i ? dg(from + k) : 0);
  }
  let offsetMin = 0;
  const z = t.charCodeAt(i);
  if (z === 90 || z === 122) {
    if (i + 1 !== n) return undefined;
  } else if ((z === 43 || z === 45) && i + 6 === n && t.charCodeAt(i + 3) === 58) {
    const oh = dg(i + 1) * 10 + dg(i + 2);
    const om = dg(i + 4) * 10 + dg(i + 5);
    if (oh < 0 || om < 0) return undefined;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else return undefined;
  // Days from 1970-01-01 (proleptic Gregorian, as Date.UTC), Hinnant's days_from_civil.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const days = era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
  const ms = (days * 86400 + hour * 3600 + minute * 60 + second - offsetMin * 60) * 1000;
  const us = ms * 1000 + micros;
  return Number.isSafeInteger(us) ? us : undefined;
}

/** Whether a text field holds exactly `s` (ASCII compared in place; anything else decoded). */
function textEquals(s: string | null, b: Buffer, at: number, len: number): boolean {
  if (len < 0 || s === null) return len < 0 && s === null;
  if (s.length === len) {
    let k = 0;
    while (k < len && s.charCodeAt(k) === b[at + k] && s.charCodeAt(k) < 0x80) k++;
    if (k === len) return true;
  }
  return b.toString('utf8', at, at + len) === s;
}

/** The row decoded for the reference code, shaped as the text cursor of readChain() returns it. */
function storedRow(row: CopyRow): StoredRow {
  const b = row.buf;
  const st = row.start;
  const ln = row.len;
  const text = (f: number): string | null => ((ln[f] as number) < 0 ? null : b.toString('utf8', st[f], (st[f] as number) + (ln[f] as number)));
  const int = (f: number): number => ((ln[f] as number) === 4 ? b.readInt32BE(st[f] as number) : Number.NaN);
  const bytes = (f: number): Buffer => Buffer.from(b.subarray(st[f], (st[f] as number) + Math.max(0, ln[f] as number)));
  const json = (f: number): string => {
    if ((ln[f] as number) < 1 || b[st[f] as number] !== 1) throw new Error('jsonb field is NULL or of an unknown version');
    return b.toString('utf8', (st[f] as number) + 1, (st[f] as number) + (ln[f] as number));
  };
  return {
    chain: text(F.chain) ?? '',
    seq: readInt64(b, st[F.seq] as number),
    receivedAtUs: readInt64(b, st[F.receivedAt] as number) + PG_EPOCH_US,
    peerCn: text(F.peerCn),
    peerSans: sans(b, st[F.peerSans] as number, ln[F.peerSans] as number),
    peerAddr: text(F.peerAddr) ?? '',
    format: text(F.format) ?? '',
    truncated: (ln[F.truncated] as number) === 1 && b[st[F.truncated] as number] === 1,
    parseError: text(F.parseError),
    raw: bytes(F.raw),
    syslogText: json(F.syslog),
    eventText: json(F.event),
    lifted: {
      event_time: (ln[F.eventTime] as number) === 8 ? isoMicros(readInt64(b, st[F.eventTime] as number) + PG_EPOCH_US) : null,
      hostname: text(F.hostname),
      app_name: text(F.appName),
      class_uid: int(F.classUid),
      activity_id: int(F.activityId),
      status_id: int(F.statusId),
      severity_id: int(F.severityId),
      user_name: text(F.userName),
      actor_user: text(F.actorUser),
      src_ip: text(F.srcIp),
    },
    prevHash: bytes(F.prevHash),
    hash: bytes(F.hash),
  };
}

/** A text[] in binary array format, flattened (a multidimensional one cannot hash right anyway). */
function sans(b: Buffer, s: number, len: number): string[] {
  if (len < 12) return [];
  const ndim = b.readInt32BE(s);
  let p = s + 12 + 8 * ndim;
  const out: string[] = [];
  while (p + 4 <= s + len) {
    const n = b.readInt32BE(p);
    p += 4;
    out.push(n < 0 ? (null as unknown as string) : b.toString('utf8', p, p + n));
    if (n > 0) p += n;
  }
  return out;
}
